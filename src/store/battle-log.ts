import type { Database } from "bun:sqlite";
import { resolve } from "node:path";
import { openDatabase } from "./db.ts";
import { guardStorage, openFailure } from "./storage-errors.ts";

/**
 * The battle log of the `battle` example upstream (`parley example battle`): its own SQLite file,
 * `DATA/examples/battle.db`, apart from the server's database (the example is a separate program;
 * it never takes the server's lock and the server never reads this file). Schema (user_version 1):
 *
 * - `battles`: one row per battle id seen: `battle_id` (validated by the caller: 1–64 of
 *   `A-Z a-z 0-9 _ -`), `events` (how many it has), `ended_event` (the `end` event's id, or NULL).
 * - `battle_events`: `id` (increasing across all battles), `battle_id`, `kind` (`update` | `end`),
 *   `ts` (ISO 8601 UTC, when stored), `reported_by` and `message` (an update), `winner` (the end),
 *   `detail`, `markdown_content` (either, optional).
 */
const SCHEMA = [
  `CREATE TABLE battles (
     battle_id TEXT PRIMARY KEY,
     events INTEGER NOT NULL,
     ended_event INTEGER
   ) STRICT`,
  `CREATE TABLE battle_events (
     id INTEGER PRIMARY KEY,
     battle_id TEXT NOT NULL REFERENCES battles (battle_id),
     kind TEXT NOT NULL CHECK (kind IN ('update', 'end')),
     ts TEXT NOT NULL,
     reported_by TEXT,
     message TEXT,
     winner TEXT,
     detail TEXT,
     markdown_content TEXT
   ) STRICT`,
  "CREATE INDEX battle_events_by_battle ON battle_events (battle_id, id)",
];

/** The file may grow to this; a write beyond answers STORAGE_UNAVAILABLE (disk full), nothing else is affected. */
export const BATTLE_LOG_MAX_BYTES = 256 * 1024 * 1024;

export interface BattleEvent {
  id: number;
  kind: "update" | "end";
  ts: string;
  reported_by?: string;
  message?: string;
  winner?: string;
  detail?: string;
  markdown_content?: string;
}

export type BattleEventDraft =
  | { kind: "update"; reported_by: string; message: string; detail?: string; markdown_content?: string }
  | { kind: "end"; winner: string; detail?: string; markdown_content?: string };

export type AppendOutcome = { ok: true; event: BattleEvent } | { ok: false; reason: "ended"; end: BattleEvent } | { ok: false; reason: "full"; events: number };

interface EventRow {
  id: number;
  kind: "update" | "end";
  ts: string;
  reported_by: string | null;
  message: string | null;
  winner: string | null;
  detail: string | null;
  markdown_content: string | null;
}

export class BattleLog {
  private readonly file: string;

  private constructor(
    private readonly db: Database,
    file: string,
  ) {
    this.file = file;
  }

  /** Opens (creating) `dir/battle.db`; a storage problem throws STORAGE_UNAVAILABLE naming the file. */
  static open(dir: string): BattleLog {
    const file = resolve(dir, "battle.db");
    let db: Database | undefined;
    try {
      db = openDatabase(dir, { name: "battle.db" });
      const pageSize = db.query<{ page_size: number }, []>("PRAGMA page_size").get()!.page_size;
      db.run(`PRAGMA max_page_count = ${Math.floor(BATTLE_LOG_MAX_BYTES / pageSize)}`);
      // BEGIN IMMEDIATE: two example processes starting on one file create the tables once.
      db.transaction(() => {
        if (db!.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version > 0) return;
        for (const statement of SCHEMA) db!.run(statement);
        db!.run("PRAGMA user_version = 1");
      }).immediate();
      return new BattleLog(db, file);
    } catch (err) {
      db?.close();
      throw openFailure(err, file);
    }
  }

  /**
   * Appends one event unless the battle has ended or holds `maxEvents` already; the check and the
   * write are one transaction (BEGIN IMMEDIATE), so two processes on the file cannot both end a battle.
   */
  append(battleId: string, draft: BattleEventDraft, maxEvents: number): AppendOutcome {
    return this.guard(() =>
      this.db
        .transaction((): AppendOutcome => {
          const battle = this.db.query<{ events: number; ended_event: number | null }, [string]>("SELECT events, ended_event FROM battles WHERE battle_id = ?").get(battleId);
          if (battle?.ended_event != null) return { ok: false, reason: "ended", end: this.event(battle.ended_event)! };
          if ((battle?.events ?? 0) >= maxEvents) return { ok: false, reason: "full", events: battle!.events };
          const ts = new Date().toISOString();
          this.db.run("INSERT INTO battles (battle_id, events) VALUES (?, 1) ON CONFLICT (battle_id) DO UPDATE SET events = events + 1", [battleId]);
          const u = draft.kind === "update" ? draft : undefined;
          const { lastInsertRowid } = this.db.run(
            "INSERT INTO battle_events (battle_id, kind, ts, reported_by, message, winner, detail, markdown_content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [battleId, draft.kind, ts, u?.reported_by ?? null, u?.message ?? null, draft.kind === "end" ? draft.winner : null, draft.detail ?? null, draft.markdown_content ?? null],
          );
          const id = Number(lastInsertRowid);
          if (draft.kind === "end") this.db.run("UPDATE battles SET ended_event = ? WHERE battle_id = ?", [id, battleId]);
          return { ok: true, event: this.event(id)! };
        })
        .immediate(),
    );
  }

  /**
   * A battle's events after `after`, oldest first, as many as fit `maxChars` of text (at least one)
   * and `limit`; `more` when others follow. `status`: unknown (no event yet), in_progress or ended.
   */
  page(battleId: string, after: number, limit: number, maxChars: number): { status: "unknown" | "in_progress" | "ended"; events: BattleEvent[]; more: boolean } {
    return this.guard(() => {
      const battle = this.db.query<{ ended_event: number | null }, [string]>("SELECT ended_event FROM battles WHERE battle_id = ?").get(battleId);
      const rows = this.db
        .query<EventRow, [string, number, number]>("SELECT * FROM battle_events WHERE battle_id = ? AND id > ? ORDER BY id LIMIT ?")
        .iterate(battleId, after, limit + 1);
      const events: BattleEvent[] = [];
      let chars = 0;
      let more = false;
      for (const row of rows) {
        const event = toEvent(row);
        chars += JSON.stringify(event).length;
        if (events.length === limit || (events.length > 0 && chars > maxChars)) {
          more = true;
          break;
        }
        events.push(event);
      }
      return { status: !battle ? "unknown" : battle.ended_event === null ? "in_progress" : "ended", events, more };
    });
  }

  close(): void {
    this.db.close();
  }

  private event(id: number): BattleEvent | undefined {
    const row = this.db.query<EventRow, [number]>("SELECT * FROM battle_events WHERE id = ?").get(id);
    return row ? toEvent(row) : undefined;
  }

  /** A storage failure (disk full, the file's cap, I/O) as STORAGE_UNAVAILABLE; nothing was written. */
  private guard<T>(fn: () => T): T {
    return guardStorage(this.file, fn);
  }
}

function toEvent(row: EventRow): BattleEvent {
  const event: BattleEvent = { id: row.id, kind: row.kind, ts: row.ts };
  for (const key of ["reported_by", "message", "winner", "detail", "markdown_content"] as const) {
    if (row[key] !== null) event[key] = row[key];
  }
  return event;
}
