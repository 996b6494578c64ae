import { Database } from "bun:sqlite";
import { resolve } from "node:path";
import { AppError } from "../errors.ts";

/** The process holding a data directory's lock, and where it takes operator commands. */
export interface DataDirHolder {
  pid: number;
  since: string;
  /** The running server's admin socket (http/admin.ts); null for a CLI command holding it. */
  adminSocket: string | null;
}

export interface DataDirLock {
  release(): void;
}

const LOCK_FILE = "parley.lock";
/**
 * Locks taken and not released. bun:sqlite closes a Database the garbage collector finds
 * unreferenced, and with it the lock (measured: a holder that dropped its lock object lost it
 * within milliseconds), so a lock stays referenced here until release().
 */
const HELD = new Set<Database>();
/** Attempts while another process is between taking the lock and naming itself (a few ms). */
const ATTEMPTS = 100;

/**
 * One process at a time writes a data directory: the store keeps channel records, the chain head
 * and the next message id in memory, exact only while it is the sole writer (two servers on one
 * directory gave `UNIQUE constraint failed: messages.id`).
 *
 * The lock is SQLite's own, on a small database `DATA/parley.lock`: the holder keeps a write
 * transaction open (BEGIN IMMEDIATE: a RESERVED lock, an fcntl lock the kernel drops when the
 * process ends, SIGKILL included, so a crash never leaves a stale lock), and readers may still
 * read its `holder` row to learn who it is. No FFI and nothing beyond what the store already uses.
 * The file is never deleted: a process could hold a lock on a deleted file while another locks its
 * replacement.
 */
export function tryLockDataDir(dataDir: string, options: { adminSocket?: string } = {}): { lock: DataDirLock; holder?: undefined } | { lock?: undefined; holder: DataDirHolder } {
  const file = resolve(dataDir, LOCK_FILE);
  let db: Database;
  try {
    db = new Database(file, { create: true, strict: true });
  } catch (err) {
    throw unusable(file, err);
  }
  try {
    db.run("PRAGMA busy_timeout = 0");
    // What the file holds only names the holder; the lock is the point. Without fsyncs taking it
    // costs ~0.2 ms instead of 2–47 ms (measured on this machine's disk, loaded); a process crash
    // mid-write still leaves a journal SQLite rolls back.
    db.run("PRAGMA synchronous = OFF");
    let named = false;
    for (let attempt = 1; ; attempt++) {
      if (begin(db)) {
        db.run("CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL, admin_socket TEXT)");
        db.run("DELETE FROM holder");
        db.run("INSERT INTO holder VALUES (?, ?, ?)", [process.pid, new Date().toISOString(), options.adminSocket ?? null]);
        // Committing lets readers see who holds it; the lock is taken again at once. If another
        // process took it in between, it holds it and names itself: this one reports it below.
        retryBusy(() => db.run("COMMIT"));
        named = true;
        if (begin(db)) {
          HELD.add(db);
          return { lock: { release: () => HELD.delete(db) && db.close() } };
        }
      }
      const holder = readHolder(db);
      // No row yet, or still ours after we lost it between COMMIT and BEGIN: the new holder is
      // naming itself; ask again.
      if (holder && !(named && holder.pid === process.pid)) {
        db.close();
        return { holder };
      }
      if (attempt >= ATTEMPTS) throw new AppError("STORAGE_UNAVAILABLE", `data directory ${dataDir} is locked by a process that does not say which (${resolve(dataDir, LOCK_FILE)})`);
      Bun.sleepSync(10);
    }
  } catch (err) {
    db.close();
    throw err instanceof AppError ? err : unusable(file, err);
  }
}

function unusable(file: string, err: unknown): AppError {
  const { code, message } = err as { code?: string; message?: string };
  return new AppError(
    "STORAGE_UNAVAILABLE",
    `cannot lock the data directory with ${file} (${code ? `${code}: ` : ""}${message}); check that the directory is writable, and if that file is damaged, stop any Parley process using the directory and delete it`,
    { cause: err },
  );
}

/** Takes the data directory's lock for this process, or throws one line naming the directory and the holder. */
export function lockDataDir(dataDir: string, options: { adminSocket?: string } = {}): DataDirLock {
  const { lock, holder } = tryLockDataDir(dataDir, options);
  if (lock) return lock;
  throw new AppError(
    "STORAGE_UNAVAILABLE",
    `data directory ${dataDir} is in use by another Parley process (pid ${holder.pid}, since ${holder.since}); stop it first, or give this one another --data`,
  );
}

/** BEGIN IMMEDIATE; false when another connection holds the write lock. */
function begin(db: Database): boolean {
  try {
    db.run("BEGIN IMMEDIATE");
    return true;
  } catch (err) {
    if (isBusy(err)) return false;
    throw err;
  }
}

function readHolder(db: Database): DataDirHolder | null {
  try {
    const row = db.query<{ pid: number; since: string; admin_socket: string | null }, []>("SELECT pid, since, admin_socket FROM holder").get();
    return row ? { pid: row.pid, since: row.since, adminSocket: row.admin_socket } : null;
  } catch (err) {
    // No table yet (its creator has not committed), or the holder is committing this moment.
    if (isBusy(err) || /no such table/.test(String(err))) return null;
    throw err;
  }
}

/** A COMMIT waits for readers of the holder row to finish (they hold their read lock for microseconds). */
function retryBusy(fn: () => void): void {
  for (let attempt = 1; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || attempt >= ATTEMPTS) throw err;
      Bun.sleepSync(10);
    }
  }
}

function isBusy(err: unknown): boolean {
  return /^SQLITE_(BUSY|LOCKED)/.test(String((err as { code?: unknown }).code ?? ""));
}
