import type { Database } from "bun:sqlite";
import { guardStorage } from "./storage-errors.ts";

/** One upstream tool's pinned definition (table tool_pins; the migrations header documents it). */
export interface PinRecord {
  server: string;
  tool: string;
  pinned_hash: string;
  /** RFC 8785 canonical JSON of the accepted definition. */
  pinned_definition: string;
  pinned_at: string;
  /** A changed definition held back until approved; null when none is. */
  held_hash: string | null;
  held_definition: string | null;
  held_at: string | null;
}

/**
 * SQL for pinned tool definitions. Each statement commits on its own: pins are written when an
 * upstream lists its tools (its start, a list_changed) and by the operator, never on a call's path.
 */
export class PinStore {
  private readonly q: ReturnType<typeof prepare>;

  constructor(private readonly db: Database) {
    this.q = prepare(db);
  }

  private sql<T>(fn: () => T): T {
    return guardStorage(this.db.filename, fn);
  }

  all(): PinRecord[] {
    return this.sql(() => this.q.all.all());
  }

  get(server: string, tool: string): PinRecord | null {
    return this.sql(() => this.q.get.get(server, tool)) ?? null;
  }

  /**
   * Pins a definition unless the tool already has one; the row as stored after, and whether this
   * call wrote it. Decided by the primary key inside SQLite, so two writers seeing the same new tool
   * at once pin it once: the second reads the first's pin.
   */
  pinIfAbsent(server: string, tool: string, hash: string, definition: string, at: string): { record: PinRecord; inserted: boolean } {
    return this.sql(() =>
      this.db.transaction(() => {
        const inserted = this.q.insert.run(server, tool, hash, definition, at).changes === 1;
        return { record: this.q.get.get(server, tool)!, inserted };
      })(),
    );
  }

  hold(server: string, tool: string, hash: string, definition: string, at: string): void {
    this.sql(() => this.q.hold.run(hash, definition, at, server, tool));
  }

  clearHeld(server: string, tool: string): void {
    this.sql(() => this.q.clearHeld.run(server, tool));
  }

  /**
   * Makes each held definition of `server` (or only `tool`'s) the pinned one; the rows as they were
   * before, so the caller can say what it approved and what changed.
   */
  approve(server: string, tool: string | null, at: string): PinRecord[] {
    return this.sql(() =>
      this.db.transaction(() => {
        const held = this.q.held.all(server).filter((r) => tool === null || r.tool === tool);
        for (const r of held) this.q.approve.run(at, server, r.tool, r.held_hash);
        return held;
      })(),
    );
  }
}

function prepare(db: Database) {
  const columns = "server, tool, pinned_hash, pinned_definition, pinned_at, held_hash, held_definition, held_at";
  return {
    all: db.query<PinRecord, []>(`SELECT ${columns} FROM tool_pins ORDER BY server, tool`),
    get: db.query<PinRecord, [string, string]>(`SELECT ${columns} FROM tool_pins WHERE server = ? AND tool = ?`),
    held: db.query<PinRecord, [string]>(`SELECT ${columns} FROM tool_pins WHERE server = ? AND held_hash IS NOT NULL ORDER BY tool`),
    insert: db.query<never, [string, string, string, string, string]>(
      "INSERT INTO tool_pins (server, tool, pinned_hash, pinned_definition, pinned_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    ),
    hold: db.query<never, [string, string, string, string, string]>("UPDATE tool_pins SET held_hash = ?, held_definition = ?, held_at = ? WHERE server = ? AND tool = ?"),
    clearHeld: db.query<never, [string, string]>("UPDATE tool_pins SET held_hash = NULL, held_definition = NULL, held_at = NULL WHERE server = ? AND tool = ?"),
    // Only the definition that was read as held: one held again since (another hash) stays held.
    approve: db.query<never, [string, string, string, string | null]>(
      `UPDATE tool_pins SET pinned_hash = held_hash, pinned_definition = held_definition, pinned_at = ?,
         held_hash = NULL, held_definition = NULL, held_at = NULL
       WHERE server = ? AND tool = ? AND held_hash = ?`,
    ),
  };
}
