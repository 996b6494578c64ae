import type { Database } from "bun:sqlite";
import { guardStorage } from "./storage-errors.ts";

/**
 * One row of the audit log (table audit_log; the migrations header documents it). Columns a kind
 * does not use are null, and are left out of the row's hashed form.
 */
export interface AuditRow {
  id: number;
  ts: string;
  kind: "call" | "prune" | "lost";
  who: string | null;
  server: string | null;
  tool: string | null;
  method: string | null;
  duration_us: number | null;
  outcome: string | null;
  arg_bytes: number | null;
  result_bytes: number | null;
  through_id: number | null;
  through_hash: string | null;
  count: number | null;
  hash: string;
}

export interface AuditQuery {
  /** Rows of this subject only (kind `call`). */
  who?: string;
  /** Rows whose ts is at or after this ISO 8601 time. */
  since?: string;
}

const COLUMNS = "id, ts, kind, who, server, tool, method, duration_us, outcome, arg_bytes, result_bytes, through_id, through_hash, count, hash";
/** Rows read per query when walking the log: memory stays bounded however long it is. */
const PAGE = 1000;

/**
 * SQL for the audit log. One process writes it (the server, which holds the data directory's
 * lock), so the chain's head is read once and then kept by the writer; commands beside it only read.
 */
export class AuditStore {
  private readonly q: ReturnType<typeof prepare>;

  constructor(private readonly db: Database) {
    this.q = prepare(db);
  }

  private sql<T>(fn: () => T): T {
    return guardStorage(this.db.filename, fn);
  }

  /** The newest row's id and hash, or null for an empty log. */
  head(): { id: number; hash: string } | null {
    return this.sql(() => this.q.head.get()) ?? null;
  }

  /** Appends sealed rows in one transaction (all or none). */
  append(rows: AuditRow[]): void {
    this.sql(() =>
      this.db.transaction(() => {
        for (const r of rows) {
          this.q.insert.run(r.id, r.ts, r.kind, r.who, r.server, r.tool, r.method, r.duration_us, r.outcome, r.arg_bytes, r.result_bytes, r.through_id, r.through_hash, r.count, r.hash);
        }
      })(),
    );
  }

  /** The oldest row's id, or null. */
  firstId(): number | null {
    return this.sql(() => this.q.first.get()?.id ?? null);
  }

  /** The newest row older than `ts` (the end of what a retention by age deletes), or null. */
  lastIdBefore(ts: string): number | null {
    return this.sql(() => this.q.lastBefore.get(ts)?.id ?? null);
  }

  /**
   * Deletes every row up to `throughId` and appends the prune row `seal` makes from what was
   * deleted (how many, and the last deleted row's id and hash), in one transaction: the chain that
   * remains starts where that row says, so it stays verifiable. Returns the count deleted.
   */
  prune(throughId: number, seal: (deleted: { count: number; throughId: number; throughHash: string }) => AuditRow): number {
    return this.sql(() =>
      this.db.transaction(() => {
        const last = this.q.lastAtOrBefore.get(throughId);
        if (!last) return 0;
        const count = this.q.deleteThrough.run(last.id).changes;
        this.append([seal({ count, throughId: last.id, throughHash: last.hash })]);
        return count;
      })(),
    );
  }

  /** Rows matching `query`, oldest first, read a page at a time. */
  *rows(query: AuditQuery = {}): Generator<AuditRow> {
    // Every row from the first that began at or after `since` (rows are appended when their call
    // ends, so a few that began earlier follow it; the ts test drops them).
    let after = query.since === undefined ? 0 : (this.sql(() => this.q.firstSince.get(query.since!))?.id ?? Number.MAX_SAFE_INTEGER) - 1;
    for (;;) {
      const page = this.sql(() => (query.who === undefined ? this.q.page.all(after, PAGE) : this.q.pageOf.all(query.who, after, PAGE)));
      for (const row of page) if (query.since === undefined || row.ts >= query.since) yield row;
      if (page.length < PAGE) return;
      after = page.at(-1)!.id;
    }
  }

  /** The prune row with the highest id: where the oldest remaining row's chain continues from. */
  latestPrune(): AuditRow | null {
    return this.sql(() => this.q.latestPrune.get()) ?? null;
  }

  /** Runs `fn` inside one read transaction: every read sees the log as of its start (WAL snapshot). */
  snapshot<T>(fn: () => T): T {
    this.sql(() => this.db.run("BEGIN"));
    try {
      return fn();
    } finally {
      this.db.run("COMMIT");
    }
  }
}

function prepare(db: Database) {
  return {
    head: db.query<{ id: number; hash: string }, []>("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"),
    first: db.query<{ id: number }, []>("SELECT id FROM audit_log ORDER BY id LIMIT 1"),
    insert: db.query<never, [number, string, string, string | null, string | null, string | null, string | null, number | null, string | null, number | null, number | null, number | null, string | null, number | null, string]>(
      `INSERT INTO audit_log (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    lastBefore: db.query<{ id: number }, [string]>("SELECT MAX(id) AS id FROM audit_log WHERE ts < ?"),
    lastAtOrBefore: db.query<{ id: number; hash: string }, [number]>("SELECT id, hash FROM audit_log WHERE id <= ? ORDER BY id DESC LIMIT 1"),
    deleteThrough: db.query<never, [number]>("DELETE FROM audit_log WHERE id <= ?"),
    firstSince: db.query<{ id: number | null }, [string]>("SELECT MIN(id) AS id FROM audit_log WHERE ts >= ?"),
    page: db.query<AuditRow, [number, number]>(`SELECT ${COLUMNS} FROM audit_log WHERE id > ? ORDER BY id LIMIT ?`),
    pageOf: db.query<AuditRow, [string, number, number]>(`SELECT ${COLUMNS} FROM audit_log WHERE who = ? AND id > ? ORDER BY id LIMIT ?`),
    latestPrune: db.query<AuditRow, []>(`SELECT ${COLUMNS} FROM audit_log WHERE kind = 'prune' ORDER BY id DESC LIMIT 1`),
  };
}
