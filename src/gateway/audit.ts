import { AppError, type ErrorCode } from "../errors.ts";
import { log } from "../lib/log.ts";
import type { AuditRow, AuditStore } from "../store/index.ts";
import { AUDIT_GENESIS, auditHash } from "./audit-chain.ts";

/** How a call ended: `ok`, `tool_error` (the upstream answered with isError), or the code the caller got. */
export type AuditOutcome = "ok" | "tool_error" | ErrorCode;

/** The MCP requests the gateway forwards upstream. */
export type AuditMethod = "tools/call" | "resources/read" | "prompts/get";

/**
 * One upstream call as the audit records it: who, what, when, how long, how it ended, and the
 * sizes of its arguments and result. Sizes only: there is no field a value could go in.
 */
export interface AuditCall {
  /** The caller's subject (`usr_…`, `agent:NAME`). */
  who: string;
  /** The upstream's configured name, and its own name for the tool (or the resource URI, the prompt name). */
  server: string;
  tool: string;
  method?: AuditMethod;
  /** Epoch ms when the call began. */
  startedAt: number;
  durationMs: number;
  outcome: AuditOutcome;
  /** UTF-8 bytes of the arguments and of the result as JSON. */
  argBytes: number;
  resultBytes: number;
}

export interface AuditOptions {
  /** Rows older than this are deleted (config audit_retention_days). */
  retentionDays: number;
  /** At most about this many rows are kept, the oldest deleted first (config audit_max_rows). */
  maxRows: number;
  /**
   * Rows are written together at most this long after the first of them (0: on the next
   * event-loop turn). A transaction per turn cost a busy gateway ~25 µs of CPU per call, a
   * batch of 20 ms a few (test/bench/audit.ts); a crash loses at most that long's rows.
   */
  batchMs?: number;
}

/** Calls waiting for their write while the storage fails; beyond, they are counted in a `lost` row. */
const MAX_PENDING = 10_000;
/** A failed write is tried again after this long (and on the next call). */
const RETRY_MS = 1000;
/** Rows deleted per transaction by retention: each holds the write lock and the event loop a few ms. */
const PRUNE_CHUNK = 5000;
const PRUNE_EVERY_MS = 5 * 60 * 1000;

type Draft = Omit<AuditRow, "id" | "hash">;

/**
 * The audit log of upstream calls, a hash chain in SQLite (audit-chain.ts). `record` costs the call
 * an object and a push: the rows are sealed and written together in one transaction, after the
 * calls have been answered, on the next event-loop turn or `batchMs` later (a crash loses at most
 * those).
 * While the storage fails, rows wait (up to MAX_PENDING, then they are only counted) and the first
 * write that works records the count in a `lost` row, so a gap is never silent.
 *
 * The server is the log's only writer (it holds the data directory's lock): the head is read once.
 */
export class AuditLog {
  private pending: Draft[] = [];
  private lost = 0;
  private lastId = 0;
  private head = AUDIT_GENESIS;
  /** Re-read the head before the next write: the last one failed, maybe after another writer's. */
  private stale = true;
  private scheduled = false;
  private batch: ReturnType<typeof setTimeout> | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private sweeper: ReturnType<typeof setInterval> | null = null;
  private pruning: Promise<number> | null = null;
  private closed = false;

  constructor(
    private readonly store: AuditStore,
    private readonly options: AuditOptions,
  ) {}

  /** Records one call; written on the next event-loop turn, or within batchMs. */
  record(call: AuditCall): void {
    if (this.closed) return;
    if (this.pending.length >= MAX_PENDING) {
      this.lost++;
      return;
    }
    this.pending.push({
      ts: new Date(call.startedAt).toISOString(),
      kind: "call",
      who: call.who,
      server: call.server,
      tool: call.tool,
      method: call.method ?? "tools/call",
      duration_us: Math.max(0, Math.round(call.durationMs * 1000)),
      outcome: call.outcome,
      arg_bytes: call.argBytes,
      result_bytes: call.resultBytes,
      through_id: null,
      through_hash: null,
      count: null,
    });
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.options.batchMs) {
        this.batch = setTimeout(() => this.flush(), this.options.batchMs);
        this.batch.unref?.();
      } else setImmediate(() => this.flush());
    }
  }

  /** Writes what is waiting, now; false when the storage refused it (it stays waiting). */
  flush(): boolean {
    this.scheduled = false;
    if (this.batch) clearTimeout(this.batch);
    this.batch = null;
    if (this.pending.length === 0 && this.lost === 0) return true;
    try {
      this.syncHead();
      const drafts: Draft[] = this.lost > 0 ? [lostRow(this.lost), ...this.pending] : this.pending;
      let { lastId: id, head } = this;
      const rows = drafts.map((draft) => {
        const row = { id: ++id, ...draft } as AuditRow;
        row.hash = head = auditHash(head, row);
        return row;
      });
      this.store.append(rows);
      this.lastId = id;
      this.head = head;
      this.pending = [];
      this.lost = 0;
      return true;
    } catch (err) {
      this.stale = true;
      // A storage failure is logged by the store, once per cause a minute; anything else is a bug.
      if (!(err instanceof AppError && err.code === "STORAGE_UNAVAILABLE")) log.error("audit write failed", { err, waiting: this.pending.length });
      if (!this.retry && !this.closed) {
        this.retry = setTimeout(() => {
          this.retry = null;
          this.flush();
        }, RETRY_MS);
        this.retry.unref?.();
      }
      return false;
    }
  }

  /**
   * Deletes what retention no longer keeps (older than retentionDays, or beyond maxRows), a chunk
   * per transaction, each leaving a `prune` row so the rest still verifies. Returns the count.
   */
  prune(now = Date.now()): Promise<number> {
    this.pruning ??= this.pruneChunks(now).finally(() => (this.pruning = null));
    return this.pruning;
  }

  private async pruneChunks(now: number): Promise<number> {
    let deleted = 0;
    if (!this.flush()) return 0;
    this.syncHead();
    // Decided once: each chunk's prune row moves lastId on, and must not move the target with it.
    const cutoff = new Date(now - this.options.retentionDays * 86_400_000).toISOString();
    const target = Math.max(this.store.lastIdBefore(cutoff) ?? 0, this.lastId - this.options.maxRows);
    while (!this.closed && this.flush()) {
      const first = this.store.firstId();
      if (first === null || first > target) break;
      let sealed: AuditRow | undefined;
      try {
        deleted += this.store.prune(Math.min(target, first + PRUNE_CHUNK - 1), ({ count, throughId, throughHash }) => {
          const row = { id: this.lastId + 1, ts: new Date().toISOString(), kind: "prune", ...NO_CALL, through_id: throughId, through_hash: throughHash, count } as AuditRow;
          row.hash = auditHash(this.head, row);
          return (sealed = row);
        });
      } catch (err) {
        this.stale = true;
        throw err;
      }
      if (sealed) {
        this.lastId = sealed.id;
        this.head = sealed.hash;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (deleted > 0) log.info("audit log pruned", { deleted, retention_days: this.options.retentionDays, max_rows: this.options.maxRows });
    return deleted;
  }

  /** Prunes now and every few minutes, until close. */
  startRetention(): void {
    const run = () => void this.prune().catch((err) => log.error("audit retention failed", { err }));
    run();
    this.sweeper = setInterval(run, PRUNE_EVERY_MS);
    this.sweeper.unref?.();
  }

  /** Writes what is waiting and stops the timers (before the store closes). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.retry) clearTimeout(this.retry);
    await this.pruning?.catch(() => {});
    this.flush();
  }

  private syncHead(): void {
    if (!this.stale) return;
    const head = this.store.head();
    this.lastId = head?.id ?? 0;
    this.head = head?.hash ?? AUDIT_GENESIS;
    this.stale = false;
  }
}

const NO_CALL = { who: null, server: null, tool: null, method: null, duration_us: null, outcome: null, arg_bytes: null, result_bytes: null };

function lostRow(count: number): Draft {
  return { ts: new Date().toISOString(), kind: "lost", ...NO_CALL, through_id: null, through_hash: null, count };
}
