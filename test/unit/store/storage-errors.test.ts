import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { genesisHash, sealMessage } from "../../../src/channels/index.ts";
import { AppError, ERROR_CODES } from "../../../src/errors.ts";
import { checkDatabase } from "../../../src/store/db.ts";
import { SqliteAuthStore, SqliteStore, type Message, type MessageDraft } from "../../../src/store/index.ts";
import { captureLog } from "../../helpers/log-capture.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const ID = "chn_test_channel_1";
const draft = (text: string): MessageDraft => ({ sender: "s0", kind: "user", body: { text }, ts: new Date().toISOString(), to_slot: null });

async function seed(store: SqliteStore) {
  await store.createChannel(
    {
      channel: { id: ID, name: "t", creator: "p1", status: "open", created_at: new Date().toISOString() },
      slots: [{ slot_id: "s0", label: "a", kind: "invite", invite_hash: "h0", holder: null, rejoin_hash: null, admin: false, joined_at: null }],
      genesisHash: genesisHash(ID),
    },
    [],
    sealMessage,
  );
}

/**
 * SQLite's own page limit on the store's connection: a write that needs one more page fails with
 * SQLITE_FULL exactly as it does when the disk has no room left (https://sqlite.org/pragma.html#pragma_max_page_count).
 */
function fillDisk(db: Database): void {
  const { page_count } = db.query<{ page_count: number }, []>("PRAGMA page_count").get()!;
  db.query(`PRAGMA max_page_count = ${page_count}`).get();
}
function makeRoom(db: Database): void {
  db.query("PRAGMA max_page_count = 1073741823").get();
}

/** The reason a promise was rejected with, as an AppError (fails the test if it resolved or threw something else). */
async function appError(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => new Error("expected a rejection"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

function expectChain(channelId: string, messages: Message[]): void {
  let prev = genesisHash(channelId);
  for (const { hash, ...rest } of messages) {
    expect(hash).toBe(sealMessage(prev, rest));
    prev = hash;
  }
}

/** Overwrites `pages` pages of the file from page `first` (1-based) with a fixed pattern: what a bad disk or a stray writer leaves. */
function scribble(file: string, first: number, pages: number): void {
  const fd = openSync(file, "r+");
  writeSync(fd, Buffer.alloc(4096 * pages, 0xab), 0, 4096 * pages, 4096 * (first - 1));
  closeSync(fd);
}

/** A database of `n` messages, its WAL checkpointed into the file, closed. */
async function databaseWith(dir: string, n: number): Promise<string> {
  const store = new SqliteStore(dir);
  await seed(store);
  for (let i = 0; i < n; i += 100) await store.apply(ID, [], Array.from({ length: 100 }, (_, j) => draft(`message ${i + j} `.padEnd(200, "."))), sealMessage);
  store.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  store.close();
  return join(dir, "parley.db");
}

describe("storage failures at run time", () => {
  test("a full disk fails every write of the batch with STORAGE_UNAVAILABLE and one logged error id; nothing of it is stored or cached; writes work again once there is room", async () => {
    using dir = tempDir();
    const store = new SqliteStore(dir.path);
    using log = captureLog();
    try {
      await seed(store);
      await store.apply(ID, [], [draft("kept")], sealMessage);
      fillDisk(store.db);
      // One batch (same event-loop turn): a seat taken and posts, each needing pages the disk does not have.
      const big = "x".repeat(8000);
      const failed = [
        store.apply(ID, [{ type: "slot", slot_id: "s0", set: { holder: "p9" } }], [draft(`joined ${big}`)], sealMessage),
        ...Array.from({ length: 5 }, (_, i) => store.apply(ID, [], [draft(`lost ${i} ${big}`)], sealMessage)),
      ];
      const errors = await Promise.all(failed.map(appError));
      for (const e of errors) {
        expect(e.code).toBe("STORAGE_UNAVAILABLE");
        expect(ERROR_CODES[e.code]).toBe(503);
        expect(e.message).toMatch(/disk full/);
      }
      const ids = new Set(errors.map((e) => /err_[0-9a-f]{8}/.exec(e.message)?.[0]));
      expect(ids.size).toBe(1);
      const [errorId] = ids;
      const lines = log.entries().filter((e) => e.error_id === errorId);
      expect(lines).toEqual([expect.objectContaining({ level: "error", msg: "storage error", kind: "disk full", code: "SQLITE_FULL", file: resolve(dir.path, "parley.db") })]);

      // Nothing of the failed batch is cached: the seat is still free, the head still the last kept message.
      expect((await store.getSlots(ID))[0]!.holder).toBeNull();
      makeRoom(store.db);
      await store.apply(ID, [], [draft("after")], sealMessage);
      const all = await store.listMessages(ID, { after: 0, slotId: "*", limit: 100 });
      expect(all.map((m) => m.body.text)).toEqual(["kept", "after"]);
      expectChain(ID, all);
      expect(log.entries()).toContainEqual(expect.objectContaining({ level: "warn", msg: "storage works again", error_id: errorId }));
    } finally {
      store.close();
    }
  });

  test("a failed COMMIT (the OS refuses to grow the WAL) fails every caller of the batch; nothing is acknowledged and every acknowledged write survives", async () => {
    using dir = tempDir();
    // In a child process: a file-size limit applies to every file the process writes, the test log included.
    const proc = Bun.spawnSync([process.execPath, resolve(import.meta.dir, "../../fixtures/commit-failure.ts"), dir.path], { stdout: "pipe", stderr: "pipe" });
    const stderr = proc.stderr.toString();
    expect(proc.exitCode, stderr).toBe(0);
    const report = JSON.parse(proc.stdout.toString()) as { outcomes: string[]; acknowledged: string[] };
    // The whole batch failed at its COMMIT, each caller with the storage error, not INTERNAL_ERROR.
    expect(report.outcomes).toHaveLength(6);
    for (const o of report.outcomes) expect(o).toMatch(/^STORAGE_UNAVAILABLE: Storage unavailable \((I\/O error|disk full)\)/);
    expect(stderr).toMatch(/ERROR storage error error_id=err_[0-9a-f]{8} kind="(I\/O error|disk full)" .*code=SQLITE_(IOERR_WRITE|FULL)/);
    // Reopened from the file: exactly the acknowledged messages, chain intact.
    const store = new SqliteStore(dir.path);
    try {
      const all = await store.listMessages(ID, { after: 0, slotId: "*", limit: 100 });
      expect(all.map((m) => m.body.text)).toEqual(report.acknowledged);
      expect(report.acknowledged).toEqual(["before", "after the limit was lifted"]);
      expectChain(ID, all);
    } finally {
      store.close();
    }
  });

  test("a transaction left open on the connection never turns a COMMIT into a bare RELEASE: the acknowledged write is on disk", async () => {
    using dir = tempDir();
    let store = new SqliteStore(dir.path);
    await seed(store);
    store.db.run("BEGIN");
    await store.apply(ID, [], [draft("durable")], sealMessage);
    store.close();
    store = new SqliteStore(dir.path);
    expect((await store.listMessages(ID, { after: 0, slotId: "*", limit: 10 })).map((m) => m.body.text)).toEqual(["durable"]);
    store.close();
  });

  test("reading a corrupt page answers STORAGE_UNAVAILABLE, logged with the cause", async () => {
    using dir = tempDir();
    const file = await databaseWith(dir.path, 1000);
    const store = new SqliteStore(dir.path);
    using log = captureLog();
    try {
      // Pages are read from the file again (the page cache keeps at most a few), as in a large database.
      store.db.run("PRAGMA cache_size = 0");
      scribble(file, 10, 8);
      const e = await appError(store.listMessages(ID, { after: 0, slotId: "*", limit: 1000 }));
      expect(e.code).toBe("STORAGE_UNAVAILABLE");
      expect(e.message).toMatch(/database corrupt/);
      expect(log.entries().some((l) => l.msg === "storage error" && /SQLITE_CORRUPT/.test(String(l.code)) && e.message.includes(String(l.error_id)))).toBe(true);
    } finally {
      store.close();
    }
  });

  test("the OAuth store's writes on a full disk answer STORAGE_UNAVAILABLE", async () => {
    using dir = tempDir();
    const store = new SqliteStore(dir.path);
    const auth = new SqliteAuthStore(store.db);
    using _log = captureLog();
    try {
      fillDisk(store.db);
      const metadata = { redirect_uris: ["http://localhost/cb"], client_name: "x".repeat(6000) };
      const e = await appError(auth.createClient({ client_id: "c1", secret_hash: null, metadata, legacy_subject: null, created_at: new Date().toISOString(), first_grant_at: null }));
      expect(e.code).toBe("STORAGE_UNAVAILABLE");
      makeRoom(store.db);
      await auth.createClient({ client_id: "c1", secret_hash: null, metadata, legacy_subject: null, created_at: new Date().toISOString(), first_grant_at: null });
      expect((await auth.getClient("c1"))?.client_id).toBe("c1");
    } finally {
      store.close();
    }
  });
});

describe("start-up checks", () => {
  test("a database with scribbled pages is refused at open with one line naming the file and what to do", async () => {
    using dir = tempDir();
    const file = await databaseWith(dir.path, 1000);
    scribble(file, 10, 3);
    const err = (() => {
      try {
        new SqliteStore(dir.path).close();
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError;
    expect(e.code).toBe("STORAGE_UNAVAILABLE");
    expect(e.message).toContain(`database ${resolve(file)} is corrupt`);
    expect(e.message).toContain("restore it from a backup");
    expect(e.message).not.toContain("\n");
  });

  test("a file that is not a database at all is refused the same way", () => {
    using dir = tempDir();
    const file = join(dir.path, "parley.db");
    writeFileSync(file, "this is not a database, it is a shopping list ".repeat(200));
    expect(() => new SqliteStore(dir.path)).toThrow(`database ${resolve(file)} is corrupt`);
    // Refused, not repaired or replaced.
    expect(readFileSync(file, "utf8")).toStartWith("this is not a database");
  });

  test("over the full-check size, the messages table is left to the reads: the start goes on, and a bad message page answers STORAGE_UNAVAILABLE when read", async () => {
    using dir = tempDir();
    const file = await databaseWith(dir.path, 1000);
    // The last pages: the messages table and its index fill the file after the small tables' roots.
    scribble(file, statSync(file).size / 4096 - 8, 4);
    const db = new Database(file, { strict: true });
    using log = captureLog();
    try {
      expect(() => checkDatabase(db, file)).toThrow("is corrupt");
      checkDatabase(db, file, 0);
      expect(log.entries()).toContainEqual(expect.objectContaining({ level: "warn", msg: "database over the start-up check size: every table checked but messages and audit_log", file }));
      expect(() => db.query("SELECT * FROM messages").all()).toThrow("malformed");
    } finally {
      db.close();
    }
  });
});
