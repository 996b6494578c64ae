import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { MIGRATIONS, migrate } from "../../../src/store/migrations.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const MIGRATE_ONCE = resolve(import.meta.dir, "../../fixtures/migrate-once.ts");

/** Starts the fixture on `file`; resolves `ready` once its connection is open. */
function migrateInAnotherProcess(file: string) {
  const proc = Bun.spawn([process.execPath, MIGRATE_ONCE, file], { stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  const ready = (async () => {
    while (!out.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`migrate-once exited before it was ready: ${out}`);
      out += decoder.decode(value, { stream: true });
    }
  })();
  const result = (async () => {
    await ready;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value, { stream: true });
    }
    await proc.exited;
    return JSON.parse(out.trim().split("\n").at(-1)!) as { applied?: string[]; error?: string };
  })();
  return { ready, result };
}

describe("migrate()", () => {
  test("applies every migration to a fresh database, and none the second time", () => {
    const db = new Database(":memory:");
    expect(migrate(db)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  test("two processes migrating one fresh file at once apply each migration exactly once", async () => {
    using dir = tempDir();
    const file = join(dir.path, "parley.db");
    // A third connection plays the first process to arrive: the file is in WAL mode (readers are
    // not blocked by a writer) with an empty `_migrations`, and it holds the write lock while the
    // two others start. Each must decide what is pending only once it holds the lock itself;
    // deciding earlier, both see every migration pending and the second applies them again.
    const holder = new Database(file, { create: true, strict: true });
    holder.run("PRAGMA journal_mode = WAL");
    holder.run("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
    holder.run("BEGIN IMMEDIATE");
    const a = migrateInAnotherProcess(file);
    const b = migrateInAnotherProcess(file);
    await Promise.all([a.ready, b.ready]);
    // Time for both to reach the lock (a read takes microseconds; each waits up to 5 s for the
    // lock). Shorter only makes the race less likely to show, never the fixed code fail.
    await Bun.sleep(500);
    holder.run("COMMIT");
    const results = await Promise.all([a.result, b.result]);

    expect(results.map((r) => r.error ?? null)).toEqual([null, null]);
    expect(results.flatMap((r) => r.applied!).sort()).toEqual(MIGRATIONS.map((m) => m.name).sort());
    const rows = holder.query<{ name: string }, []>("SELECT name FROM _migrations ORDER BY name").all();
    expect(rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name).sort());
    holder.close();
  });
});
