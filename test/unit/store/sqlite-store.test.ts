import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { genesisHash, sealMessage } from "../../../src/channels/index.ts";
import { MIGRATIONS, SqliteStore, StoreConflict, type MessageDraft } from "../../../src/store/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const draft = (text: string, to_slot: string | null = null): MessageDraft => ({ sender: "s0", kind: "user", body: { text }, ts: new Date().toISOString(), to_slot });

function seed(store: SqliteStore, id = "chn_test_channel_1") {
  return store.createChannel(
    {
      channel: { id, name: "t", creator: "p1", status: "open", created_at: new Date().toISOString() },
      slots: [
        { slot_id: "s0", label: "a", kind: "invite", invite_hash: `h0-${id}`, holder: null, rejoin_hash: null, admin: false, joined_at: null },
        { slot_id: "s1", label: "b", kind: "invite", invite_hash: `h1-${id}`, holder: null, rejoin_hash: null, admin: false, joined_at: null },
      ],
      genesisHash: genesisHash(id),
    },
    [],
    sealMessage,
  );
}

/** A store on a fresh temporary directory with one seeded channel (`id`); closed and removed on dispose. */
async function seededStore() {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  await seed(store);
  return {
    store,
    id: "chn_test_channel_1",
    dir: dir.path,
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

describe("SqliteStore", () => {
  test("opens in WAL mode with synchronous=NORMAL and foreign keys, and applies every migration once", () => {
    using dir = tempDir();
    const store = new SqliteStore(dir.path);
    expect(store.db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()!.journal_mode).toBe("wal");
    expect(store.db.query<{ synchronous: number }, []>("PRAGMA synchronous").get()!.synchronous).toBe(1);
    expect(store.db.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()!.foreign_keys).toBe(1);
    store.close();
    const again = new SqliteStore(dir.path); // re-opening must not re-apply
    const applied = again.db.query<{ name: string }, []>("SELECT name FROM _migrations ORDER BY name").all().map((r) => r.name);
    expect(applied).toEqual(MIGRATIONS.map((m) => m.name));
    again.close();
  });

  test("message ids are strictly increasing across channels and survive a reopen", async () => {
    using dir = tempDir();
    let store = new SqliteStore(dir.path);
    await seed(store, "chn_first_channel_1");
    await seed(store, "chn_second_channel");
    const a = await store.apply("chn_first_channel_1", [], [draft("1"), draft("2")], sealMessage);
    const b = await store.apply("chn_second_channel", [], [draft("3")], sealMessage);
    store.close();
    store = new SqliteStore(dir.path);
    const c = await store.apply("chn_first_channel_1", [], [draft("4")], sealMessage);
    const ids = [...a, ...b, ...c].map((m) => m.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(4);
    const listed = await store.listMessages("chn_first_channel_1", { after: 0, slotId: null, limit: 10 });
    expect(listed.map((m) => m.body.text)).toEqual(["1", "2", "4"]);
    store.close();
  });

  test("messages form a hash chain from the channel's genesis hash", async () => {
    using dir = tempDir();
    const store = new SqliteStore(dir.path);
    await seed(store);
    await store.apply("chn_test_channel_1", [], [draft("a"), draft("b"), draft("c")], sealMessage);
    const msgs = await store.listMessages("chn_test_channel_1", { after: 0, slotId: null, limit: 10 });
    let prev = genesisHash("chn_test_channel_1");
    for (const m of msgs) {
      const { hash, ...unsealed } = m;
      expect(hash).toBe(sealMessage(prev, unsealed));
      prev = hash;
    }
    // The next message chains to the newest one: the head is the last hash, after a reopen too.
    store.close();
    const reopened = new SqliteStore(dir.path);
    const [next] = await reopened.apply("chn_test_channel_1", [], [draft("d")], sealMessage);
    const { hash, ...unsealed } = next!;
    expect(hash).toBe(sealMessage(prev, unsealed));
    reopened.close();
  });

  test("listMessages shows private messages only to their recipient and their sender", async () => {
    using seeded = await seededStore();
    const { store } = seeded;
    const from = (sender: string, text: string, to: string | null) => ({ ...draft(text, to), sender });
    await store.apply(
      "chn_test_channel_1",
      [],
      [from("s0", "public", null), from("bot:b1", "for s1", "s1"), from("bot:b1", "for s0", "s0"), from("s1", "s1 to the bot", "bot:b1")],
      sealMessage,
    );
    const text = async (slotId: string | null) =>
      (await store.listMessages("chn_test_channel_1", { after: 0, slotId, limit: 10 })).map((m) => m.body.text);
    expect(await text("s0")).toEqual(["public", "for s0"]);
    expect(await text("s1")).toEqual(["public", "for s1", "s1 to the bot"]);
    expect(await text(null)).toEqual(["public"]);
    expect(await text("*")).toEqual(["public", "for s1", "for s0", "s1 to the bot"]);
  });

  test("listMessages shows a seat's private messages only to the occupancy they belong to (a kick starts a new one)", async () => {
    using seeded = await seededStore();
    const { store, id } = seeded;
    const from = (sender: string, text: string, to: string | null, reply_to?: number) => ({ ...draft(text, to), sender, ...(reply_to ? { reply_to } : {}) });
    const [dm] = await store.apply(id, [], [from("s0", "old dm", "bot:b1")], sealMessage);
    await store.apply(id, [], [from("bot:b1", "old answer", "s0", dm!.id)], sealMessage);
    await store.apply(id, [{ type: "slot", slot_id: "s0", set: { holder: null }, newTenure: true }], [from("system", "kick", null)], sealMessage);
    // The bot answers the old occupant's DM only now, after the kick: still the old occupant's.
    await store.apply(id, [], [from("bot:b1", "late answer", "s0", dm!.id), from("s0", "new dm", "bot:b1")], sealMessage);
    const slot = (await store.getSlots(id)).find((s) => s.slot_id === "s0")!;
    expect(slot.tenure_start).toBeGreaterThanOrEqual(dm!.id + 1);
    const text = async (tenureStart: number) => (await store.listMessages(id, { after: 0, slotId: "s0", tenureStart, limit: 10 })).map((m) => m.body.text);
    expect(await text(slot.tenure_start)).toEqual(["kick", "new dm"]);
    expect(await text(0)).toEqual(["old dm", "old answer", "kick", "late answer", "new dm"]);
  });

  test("migration 0007 starts a kicked seat's occupancy at its latest slot:kick message", () => {
    using dir = tempDir();
    const db = new Database(join(dir.path, "parley.db"), { create: true, strict: true });
    const before = MIGRATIONS.findIndex((m) => m.name === "0007_seat_tenure");
    db.run("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
    for (const m of MIGRATIONS.slice(0, before)) {
      db.run(m.sql);
      db.run("INSERT INTO _migrations VALUES (?, ?)", [m.name, "then"]);
    }
    db.run("INSERT INTO channels VALUES ('chn_old_channel_1', 'old', 'p1', 'open', 'then', 'g')");
    for (const s of ["s0", "s1"]) db.run("INSERT INTO slots (channel_id, slot_id, label, kind) VALUES ('chn_old_channel_1', ?, ?, 'invite')", [s, s]);
    const kick = (id: number, slot: string) =>
      db.run("INSERT INTO messages (id, channel_id, sender, kind, body, ts, hash) VALUES (?, 'chn_old_channel_1', 'system', 'system', ?, 'then', 'h')", [id, JSON.stringify({ type: "slot:kick", slot_id: slot })]);
    kick(3, "s0");
    kick(7, "s0");
    db.close();
    const store = new SqliteStore(dir.path);
    try {
      const starts = store.db.query<{ slot_id: string; tenure_start: number }, []>("SELECT slot_id, tenure_start FROM slots ORDER BY slot_id").all();
      expect(starts).toEqual([
        { slot_id: "s0", tenure_start: 7 },
        { slot_id: "s1", tenure_start: 0 },
      ]);
    } finally {
      store.close();
    }
  });

  test("apply() is all or nothing: a failed holder expectation writes neither changes nor messages", async () => {
    using seeded = await seededStore();
    const { store } = seeded;
    await store.apply("chn_test_channel_1", [{ type: "slot", slot_id: "s0", expectHolder: null, set: { holder: "p2" } }], [draft("joined")], sealMessage);
    const before = await store.listMessages("chn_test_channel_1", { after: 0, slotId: null, limit: 10 });
    const attempt = store.apply(
      "chn_test_channel_1",
      [
        { type: "channel", set: { name: "renamed" } },
        { type: "slot", slot_id: "s0", expectHolder: null, set: { holder: "p3" } },
      ],
      [draft("should not exist")],
      sealMessage,
    );
    await expect(attempt).rejects.toBeInstanceOf(StoreConflict);
    await attempt.catch(() => {});
    expect(await store.listMessages("chn_test_channel_1", { after: 0, slotId: null, limit: 10 })).toEqual(before);
    expect((await store.getChannel("chn_test_channel_1"))!.name).toBe("t");
    expect((await store.getSlots("chn_test_channel_1"))[0]!.holder).toBe("p2");
  });

  test("finds slots by secret hash and lists a principal's channels", async () => {
    using seeded = await seededStore();
    const { store } = seeded;
    expect((await store.findSlotByInviteHash("h1-chn_test_channel_1"))!.slot_id).toBe("s1");
    expect(await store.findSlotByInviteHash("nope")).toBeNull();
    await store.apply("chn_test_channel_1", [{ type: "slot", slot_id: "s1", set: { holder: "p9", rejoin_hash: "r9" } }], [], sealMessage);
    expect((await store.findSlotByRejoinHash("r9"))!.holder).toBe("p9");
    expect((await store.listChannelsOf("p9")).map((c) => c.id)).toEqual(["chn_test_channel_1"]);
    expect((await store.listChannelsOf("p1")).map((c) => c.id)).toEqual(["chn_test_channel_1"]);
    expect(await store.listChannelsOf("stranger")).toEqual([]);
  });

  test("the sync query for the last page uses the (channel_id, id) index", () => {
    using dir = tempDir();
    const store = new SqliteStore(dir.path);
    store.close();
    const db = new Database(join(dir.path, "parley.db"));
    const plan = db
      .query<{ detail: string }, []>("EXPLAIN QUERY PLAN SELECT * FROM messages WHERE channel_id = 'x' AND id > 5 AND (to_slot IS NULL OR to_slot = 's0') ORDER BY id LIMIT 100")
      .all()
      .map((r) => r.detail)
      .join(" | ");
    expect(plan).toContain("USING INDEX messages_channel");
    expect(plan).not.toContain("TEMP B-TREE");
    db.close();
  });

  test("apply() checks requirements at commit time: open channel, current holder, one seat per principal", async () => {
    using seeded = await seededStore();
    const { store, id } = seeded;
    await store.apply(id, [{ type: "slot", slot_id: "s0", set: { holder: "p2" } }], [], sealMessage);
    const reason = (p: Promise<unknown>) => p.then(() => "ok", (e) => (e instanceof StoreConflict ? e.reason : String(e)));
    expect(await reason(store.apply(id, [{ type: "require", holder: { slot_id: "s0", principal: "p3" } }], [draft("x")], sealMessage))).toBe("not_holder");
    expect(await reason(store.apply(id, [{ type: "require", soleSeat: { slot_id: "s1", principal: "p2" } }], [], sealMessage))).toBe("already_seated");
    expect(await reason(store.apply(id, [{ type: "require", open: true, holder: { slot_id: "s0", principal: "p2" } }], [draft("ok")], sealMessage))).toBe("ok");
    await store.apply(id, [{ type: "channel", set: { status: "closed" } }], [], sealMessage);
    expect(await reason(store.apply(id, [{ type: "require", open: true }], [draft("late")], sealMessage))).toBe("channel_closed");
    const texts = (await store.listMessages(id, { after: 0, slotId: null, limit: 10 })).map((m) => m.body.text);
    expect(texts).toEqual(["ok"]);
  });

  test("writes in one event-loop turn commit together, and a failing one rolls back alone", async () => {
    using dir = tempDir();
    const store = new SqliteStore(dir.path);
    await seed(store);
    const id = "chn_test_channel_1";
    const results = await Promise.allSettled([
      store.apply(id, [], [draft("first")], sealMessage),
      store.apply(id, [{ type: "require", holder: { slot_id: "s0", principal: "nobody" } }], [draft("refused")], sealMessage),
      store.apply(id, [{ type: "channel", set: { name: "renamed" } }], [draft("third")], sealMessage),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const msgs = await store.listMessages(id, { after: 0, slotId: null, limit: 10 });
    expect(msgs.map((m) => m.body.text)).toEqual(["first", "third"]);
    expect((await store.getChannel(id))!.name).toBe("renamed");
    // The chain skips the rolled-back message: each hash follows the one stored before it.
    let prev = genesisHash(id);
    for (const { hash, ...unsealed } of msgs) {
      expect(hash).toBe(sealMessage(prev, unsealed));
      prev = hash;
    }
    store.close();
    // What was acknowledged is on disk: a fresh open sees it.
    const reopened = new SqliteStore(dir.path);
    expect((await reopened.listMessages(id, { after: 0, slotId: null, limit: 10 })).length).toBe(2);
    reopened.close();
  });

  test("a write that arrives on the next turn joins the pending commit; neither caller is answered before it is durable", async () => {
    using s = await seededStore();
    const first = s.store.apply(s.id, [], [draft("first")], sealMessage);
    let firstAnswered = false;
    void first.then(() => (firstAnswered = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(firstAnswered).toBe(false);
    const second = s.store.apply(s.id, [], [draft("second")], sealMessage);
    await first;
    // Another connection (as another process would) already sees both: they were one COMMIT.
    const other = new Database(join(s.dir, "parley.db"), { readonly: true });
    try {
      const rows = other.query("SELECT body FROM messages WHERE channel_id = ? ORDER BY id").all(s.id) as { body: string }[];
      expect(rows.map((r) => JSON.parse(r.body).text)).toEqual(["first", "second"]);
    } finally {
      other.close();
    }
    expect((await second)[0]!.body).toEqual({ text: "second" });
  });

  test("the chain head kept in memory follows every commit: across batches, after a rolled-back write and a failed one", async () => {
    using seeded = await seededStore();
    const { store, id } = seeded;
    await store.getChannel(id); // cached from here on, with its head once a post read it
    await store.apply(id, [], [draft("one")], sealMessage);
    await Promise.allSettled([
      store.apply(id, [], [draft("two")], sealMessage),
      store.apply(id, [{ type: "require", holder: { slot_id: "s0", principal: "nobody" } }], [draft("refused")], sealMessage),
      store.apply(id, [], [draft("three"), draft("four")], sealMessage),
    ]);
    await expect(store.apply(id, [{ type: "require", holder: { slot_id: "s1", principal: "nobody" } }], [draft("alone, refused")], sealMessage)).rejects.toThrow();
    await store.apply(id, [], [draft("five")], sealMessage);
    const msgs = await store.listMessages(id, { after: 0, slotId: null, limit: 10 });
    expect(msgs.map((m) => m.body.text)).toEqual(["one", "two", "three", "four", "five"]);
    let prev = genesisHash(id);
    for (const { hash, ...unsealed } of msgs) {
      expect(hash).toBe(sealMessage(prev, unsealed));
      prev = hash;
    }
  });

  test("a requirement checked in the same batch as a change sees the change, not the cached state", async () => {
    using seeded = await seededStore();
    const { store, id } = seeded;
    await store.apply(id, [{ type: "slot", slot_id: "s0", set: { holder: "p2" } }], [], sealMessage);
    expect((await store.getChannel(id))!.status).toBe("open"); // cached: open, p2 holds s0
    const results = await Promise.allSettled([
      store.apply(id, [{ type: "channel", set: { status: "closed" } }], [], sealMessage),
      store.apply(id, [{ type: "require", open: true, holder: { slot_id: "s0", principal: "p2" } }], [draft("too late")], sealMessage),
      store.apply(id, [{ type: "slot", slot_id: "s1", set: { holder: "p3" } }], [], sealMessage),
    ]);
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as StoreConflict).reason : "ok"))).toEqual(["ok", "channel_closed", "ok"]);
    expect((await store.listMessages(id, { after: 0, slotId: null, limit: 10 })).map((m) => m.body.text)).toEqual([]);
    expect((await store.getChannel(id))!.status).toBe("closed");
    expect((await store.getSlots(id))[1]!.holder).toBe("p3");
  });

  test("a bot's cached record follows its state writes; a rolled-back write leaves the committed state", async () => {
    using seeded = await seededStore();
    const { store, id } = seeded;
    const bot = { bot_id: "bot_one", channel_id: id, slot_id: null, name: "B", version: "1.0.0", code: "export default {}", manifest: {}, params: {}, code_hash: "sha256:x", manifest_hash: "sha256:y", seed: "00", seed_commit: "sha256:z", engine: "quickjs-test", state: "null", last_seen: 0, created_at: new Date().toISOString() };
    await store.apply(id, [{ type: "bot", insert: bot }], [], sealMessage);
    const botsOf = async (s: SqliteStore) => (await s.getBots(id)).map((b) => [b.state, b.last_seen]);
    const fromDisk = async () => {
      const fresh = new SqliteStore(seeded.dir);
      try {
        return await botsOf(fresh);
      } finally {
        fresh.close();
      }
    };
    expect(await botsOf(store)).toEqual([["null", 0]]); // cached from here on
    // The state is the bot's JSON text, kept byte for byte (the sandbox made it; nobody here parses it).
    await store.apply(id, [{ type: "bot_state", bot_id: "bot_one", state: '{"n":1, "é":"😀"}', last_seen: 5 }], [], sealMessage);
    expect(await botsOf(store)).toEqual([['{"n":1, "é":"😀"}', 5]]);
    // The state moves first, then the write fails: rolled back, in the database and in the cache.
    const refused = store.apply(id, [{ type: "bot_state", bot_id: "bot_one", state: '{"n":2}', last_seen: 6 }, { type: "require", holder: { slot_id: "s0", principal: "nobody" } }], [], sealMessage);
    await expect(refused).rejects.toThrow();
    expect(await botsOf(store)).toEqual([['{"n":1, "é":"😀"}', 5]]);
    expect(await fromDisk()).toEqual([['{"n":1, "é":"😀"}', 5]]);
  });

  test("discardChannel() removes a channel and everything of it (cached or not); other channels and the id sequence are untouched", async () => {
    using seeded = await seededStore();
    const { store, id } = seeded;
    await seed(store, "chn_other_channel_1");
    const bot = { bot_id: "bot_gone", channel_id: id, slot_id: "s1", name: "B", version: "1.0.0", code: "export default {}", manifest: {}, params: {}, code_hash: "sha256:x", manifest_hash: "sha256:y", seed: "00", seed_commit: "sha256:z", engine: "quickjs-test", state: "null", last_seen: 0, created_at: new Date().toISOString() };
    const written = await store.apply(id, [{ type: "bot", insert: bot }], [draft("1"), draft("2")], sealMessage);
    await store.getBots(id); // cached
    await store.discardChannel(id);
    expect(await store.getChannel(id)).toBeNull();
    expect(await store.getSlots(id)).toEqual([]);
    expect(await store.getBots(id)).toEqual([]);
    expect(await store.findSlotByInviteHash(`h0-${id}`)).toBeNull();
    expect(await store.listChannelsOf("p1")).toHaveLength(1);
    const rows = (table: string) => store.db.query<{ n: number }, [string]>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${table === "channels" ? "id" : "channel_id"} = ?`).get(id)!.n;
    expect(["channels", "slots", "messages", "bots"].map(rows)).toEqual([0, 0, 0, 0]);
    const next = await store.apply("chn_other_channel_1", [], [draft("3")], sealMessage);
    expect(next[0]!.id).toBeGreaterThan(written.at(-1)!.id);
  });
});
