import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** Opens (creating if needed) the SQLite file in the data dir with Parley's pragmas. */
export function openDatabase(dataDir: string): Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dataDir, "parley.db"), { create: true, strict: true });
  // busy_timeout first: the other pragmas may already need the lock.
  db.run("PRAGMA busy_timeout = 5000");
  db.run("PRAGMA journal_mode = WAL");
  // NORMAL in WAL mode survives any process crash (SIGKILL); only an OS crash or power loss
  // can drop the last transactions. Measured ~7x the commit rate of FULL here.
  db.run("PRAGMA synchronous = NORMAL");
  db.run("PRAGMA foreign_keys = ON");
  return db;
}
