import type { Database } from "bun:sqlite";
import { storageFailure, storageRecovered } from "./storage-errors.ts";

interface Job {
  work: () => unknown;
  /** Cache key of what this write touches, if any. */
  key?: string;
  /** The write changes cached state: its key is stale once it commits. */
  invalidates: boolean;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Event-loop turns from a write's arrival to its COMMIT. The batch waits one turn more than it must
 * (a group-commit delay, like PostgreSQL's commit_delay) so that the writes that arrive on the next
 * turn share its commit: with 16 clients posting, batches grow from ~6 to ~11 posts, and a commit
 * (its WAL frames are two pwrite calls each, its locks fcntl calls) costs about the same for both.
 * Measured on post_message over HTTP: ~7 µs less server CPU per call and +10 % calls/s, p50 latency
 * under load lower too; an idle server spends one empty turn (a few µs).
 */
export const COMMIT_TURNS = 2;

/**
 * Group commit: every write that arrives within COMMIT_TURNS event-loop turns runs in ONE SQLite
 * transaction, each inside its own SAVEPOINT so a failing write rolls back alone. Every caller
 * is answered only after the COMMIT, so "acknowledged" still means "durable" (WAL,
 * synchronous=NORMAL). Measured: one commit per post cost ~33 µs; batched, ~10 µs a post.
 */
export class GroupCommit {
  private pending: Job[] = [];
  private readonly savepoint;
  private readonly release;
  private readonly rollbackTo;

  constructor(
    private readonly db: Database,
    /**
     * Called after each COMMIT, before callers are answered, with the cache keys the batch made
     * stale: those of writes that changed cached state, and those of writes that failed (rolled
     * back to their savepoint, maybe after moving in-memory state); with null after a failed
     * COMMIT (drop everything).
     */
    private readonly afterFlush: (stale: Set<string> | null) => void,
  ) {
    this.savepoint = db.prepare("SAVEPOINT parley_write");
    this.release = db.prepare("RELEASE parley_write");
    this.rollbackTo = db.prepare("ROLLBACK TO parley_write");
  }

  run<T>(work: () => T, key?: string, invalidates = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, key, invalidates, resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.length === 1) this.flushAfter(COMMIT_TURNS);
    });
  }

  private flushAfter(turns: number): void {
    setImmediate(() => (turns > 1 ? this.flushAfter(turns - 1) : this.flush()));
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    let storageTrouble = false;
    try {
      // Inside a transaction left open (only a failed ROLLBACK leaves one), db.transaction() would
      // end this batch with a RELEASE, not a COMMIT: callers would be answered with nothing durable.
      if (this.db.inTransaction) this.db.run("ROLLBACK");
      this.db.transaction(() => {
        // One write alone needs no savepoint: if it fails, the whole transaction rolls back.
        if (batch.length === 1) {
          outcomes.push({ ok: true, value: batch[0]!.work() });
          return;
        }
        for (const job of batch) {
          this.savepoint.run();
          try {
            const value = job.work();
            this.release.run();
            outcomes.push({ ok: true, value });
          } catch (error) {
            // SQLITE_FULL and I/O errors may roll back the whole transaction (https://sqlite.org/lang_transaction.html,
            // "Response To Errors Within A Transaction"): then no savepoint is left and the batch fails as one.
            if (!this.db.inTransaction) throw error;
            this.rollbackTo.run();
            this.release.run();
            const failure = storageFailure(error, this.db.filename);
            storageTrouble ||= failure !== error;
            outcomes.push({ ok: false, error: failure });
          }
        }
      })();
    } catch (error) {
      this.afterFlush(null);
      // One failure for the whole batch: logged once, every caller gets it, none is acknowledged.
      const failure = storageFailure(error, this.db.filename);
      for (const job of batch) job.reject(failure);
      return;
    }
    if (!storageTrouble) storageRecovered();
    this.afterFlush(new Set(batch.flatMap((job, i) => (job.key && (job.invalidates || !outcomes[i]!.ok) ? [job.key] : []))));
    batch.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }
}
