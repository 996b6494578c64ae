import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { log } from "../lib/log.ts";
import { corrupt } from "./storage-errors.ts";

/**
 * Up to this size the start-up check reads the whole file. PRAGMA quick_check reads every page:
 * measured on a 1,000,000-message database (259 MiB), 0.3 s with the file in the page cache and
 * 4.3–6.5 s after dropping it (a start after a reboot, this machine's disk); quick_check(N) costs
 * the same, N only caps the errors reported. 64 MiB (about 250,000 messages) keeps a cold start
 * near a second. A larger database is checked except for its messages table (every other table
 * takes milliseconds); SQLite still checks each page it reads, so a bad one answers
 * STORAGE_UNAVAILABLE when it is read instead of stopping the start. The audit log (a row per
 * upstream call, up to audit_max_rows) grows the same way and is left out with it.
 */
export const FULL_CHECK_MAX_BYTES = 64 * 1024 * 1024;

/** The tables that grow with use: over FULL_CHECK_MAX_BYTES, the start-up check leaves them to the reads. */
const GROWING_TABLES = ["messages", "audit_log"];

/**
 * Opens the SQLite file in the data dir with Parley's pragmas, and checks it. Only the server
 * creates it (`create`); other commands open what is there. `name`: another file of the same kind
 * (an example upstream's own database).
 */
export function openDatabase(dataDir: string, { create = true, name = "parley.db" }: { create?: boolean; name?: string } = {}): Database {
  if (create) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = resolve(dataDir, name);
  const db = new Database(file, { create, strict: true });
  try {
    // busy_timeout first: the other pragmas may already need the lock.
    db.run("PRAGMA busy_timeout = 5000");
    db.run("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode survives any process crash (SIGKILL); only an OS crash or power loss
    // can drop the last transactions. Measured ~7x the commit rate of FULL here.
    db.run("PRAGMA synchronous = NORMAL");
    db.run("PRAGMA foreign_keys = ON");
    checkDatabase(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Refuses a database the server could not serve from: corrupt pages (quick_check: every b-tree
 * page, cell and freelist, not the index contents) and one it may not write (a read-only file
 * opens read-only without complaint; the first post would fail instead of the start).
 */
export function checkDatabase(db: Database, file: string, fullCheckMaxBytes = FULL_CHECK_MAX_BYTES): void {
  const { page_count, page_size } = db.query<{ page_count: number; page_size: number }, []>("SELECT * FROM pragma_page_count, pragma_page_size").get()!;
  const tables =
    page_count * page_size <= fullCheckMaxBytes
      ? [null]
      : db
          .query<{ name: string }, []>("SELECT name FROM sqlite_schema WHERE type = 'table'")
          .all()
          .map((r) => r.name)
          .filter((name) => !GROWING_TABLES.includes(name));
  for (const table of tables) {
    const [first] = db.query<{ quick_check: string }, []>(table === null ? "PRAGMA quick_check(1)" : `PRAGMA quick_check("${table}")`).all();
    if (first?.quick_check !== "ok") throw corrupt(file, `PRAGMA quick_check: ${(first?.quick_check ?? "no answer").replace(/\s*\n\s*/g, " ").slice(0, 200)}`);
  }
  if (tables[0] !== null) {
    log.warn("database over the start-up check size: every table checked but messages and audit_log", { file, limit_mib: Math.round(fullCheckMaxBytes / 2 ** 20) });
  }
  // Writes user_version back unchanged: the cheapest write there is, and it fails on a read-only file.
  const { user_version } = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!;
  db.run(`PRAGMA user_version = ${user_version}`);
}
