import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import * as channels from "../../../src/channels/index.ts";
import { AppError } from "../../../src/errors.ts";
import { PRESETS, SandboxEngine } from "../../../src/sandbox/index.ts";
import { SqliteStore } from "../../../src/store/index.ts";
import type { BotEngine } from "../../../src/transcript/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const engine = new SandboxEngine();
afterAll(() => engine.dispose());

function setup() {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  const ctx: channels.ChannelsContext = {
    store,
    notifier: new channels.Notifier(),
    limits: { maxMessageBytes: 65536 },
    bots: channels.createBotsRuntime({ engine, presets: new Map(PRESETS), manifestOf: (code) => engine.manifestOf(code) }),
  };
  return {
    ctx,
    store,
    /** Rows of the channel tables, read from the file (not through the store's cache). */
    rows() {
      const db = new Database(join(dir.path, "parley.db"), { readonly: true });
      try {
        const count = (table: string) => (db.query(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
        return { channels: count("channels"), slots: count("slots"), messages: count("messages"), bots: count("bots") };
      } finally {
        db.close();
      }
    },
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

const alice = { principal: "alice" };

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

describe("createChannel with a bot: all or nothing", () => {
  const failingInits: [string, Partial<channels.CreateChannelInput>, RegExp][] = [
    ["an onInit that loops", { bot_code: "export default { onInit() { for (;;) {} } };" }, /onInit \(budget\)/],
    ["an onInit that throws", { bot_code: "export default { onInit() { null.x; } };" }, /onInit \(exception\): TypeError/],
    ["GuessBot with min > max", { bot_preset: "GuessBot", bot_params: { min: 10, max: 1 } }, /GuessBot failed in onInit \(exception\): .*min.*max/],
  ];
  for (const [name, bot, message] of failingInits) {
    test(`${name}: BOT_ERROR naming the bot and the hook, and no row of the channel is left in the database`, async () => {
      using s = setup();
      await channels.createChannel(s.ctx, alice, { name: "kept", slots: ["invite:a"] });
      const before = s.rows();
      const err = await failure(channels.createChannel(s.ctx, alice, { name: "t", slots: ["invite:a", "bot:ref"], ...bot }));
      expect(err.code).toBe("BOT_ERROR");
      expect(err.message).toMatch(message);
      expect(err.message).toContain("the channel was not created");
      expect(err.detail).toMatchObject({ hook: "onInit" });
      expect(s.rows()).toEqual(before);
      expect((await channels.listChannels(s.ctx, alice)).channels.map((c) => c.name)).toEqual(["kept"]);
      // Ids keep increasing past the discarded channel's messages.
      const next = await channels.createChannel(s.ctx, alice, { name: "next", slots: ["invite:a", "bot:ref"], bot_preset: "EchoBot" });
      expect(next.bots).toHaveLength(1);
    });
  }

  test("a bot that does not load: BOT_ERROR naming the bot and the line and column of its source, nothing written", async () => {
    using s = setup();
    const before = s.rows();
    const err = await failure(channels.createChannel(s.ctx, alice, { name: "t", slots: ["invite:a", "bot:ref"], bot_code: "export default {\n  onInit(ctx) {\n    ctx.post('bot', {}\n  },\n};" }));
    expect(err.code).toBe("BOT_ERROR");
    expect(err.message).toBe("bot_code does not load: SyntaxError at line 4, column 3: expecting ','");
    expect(s.rows()).toEqual(before);
  });

  test("a bot needs a bot: seat, bot_params need a bot, and seat labels are unique", async () => {
    using s = setup();
    const cases: [Partial<channels.CreateChannelInput>, RegExp][] = [
      [{ slots: ["invite:a"], bot_preset: "EchoBot" }, /bot:LABEL/],
      [{ slots: ["invite:a", "bot:ref"], bot_params: { x: 1 } }, /bot_params/],
    ];
    for (const [input, message] of cases) {
      const err = await failure(channels.createChannel(s.ctx, alice, { name: "t", slots: [], ...input } as channels.CreateChannelInput));
      expect(err.code).toBe("INVALID_REQUEST");
      expect(err.message).toMatch(message);
    }
    const dup = channels.CreateChannelInputSchema.safeParse({ name: "t", slots: ["invite:a", "bot:a"] });
    expect(dup.success).toBe(false);
    expect(dup.error?.issues[0]).toMatchObject({ path: ["slots"], message: expect.stringContaining('"a"') });
    expect(s.rows().channels).toBe(0);
  });
});

describe("bot seats", () => {
  test("a seated bot's seat is filled in every view; attach_bot takes the first free bot seat and refuses when none is left", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, alice, { name: "t", slots: ["invite:a", "bot:one", "bot:two"], bot_preset: "EchoBot" });
    expect(created.view.slots.map((x) => x.filled)).toEqual([false, true, false]);
    const attached = await channels.attachBot(s.ctx, alice, { channel_id: created.channel_id, bot_preset: "DiceBot" });
    expect(attached.bot_error).toBeUndefined();
    const info = await channels.getChannelInfo(s.ctx, alice, { channel_id: created.channel_id });
    expect(info.bots.map((b) => b.slot_id)).toEqual(["s1", "s2"]);
    expect(info.view.slots.map((x) => x.filled)).toEqual([false, true, true]);
    expect((await channels.listChannels(s.ctx, alice)).channels[0]!.slots.map((x) => x.filled)).toEqual([false, true, true]);
    const full = await failure(channels.attachBot(s.ctx, alice, { channel_id: created.channel_id, bot_preset: "EchoBot" }));
    expect(full.code).toBe("SLOT_ALREADY_FILLED");
    const kick = await failure(channels.updateChannel(s.ctx, alice, { channel_id: created.channel_id, ops: [{ type: "kick", slot_id: "s1" }] }));
    expect(kick.code).toBe("INVALID_REQUEST");
    expect(kick.message).toBe(`Slot s1 is a bot seat; it holds bot ${info.bots[0]!.bot_id} (EchoBot), and bots cannot be kicked`);
  });
});

describe("ids are looked up whatever their length", () => {
  test("a well-prefixed id up to 128 characters after its prefix passes the schema; longer ones and other characters do not", () => {
    const ok = (schema: { safeParse(v: unknown): { success: boolean } }, v: unknown) => schema.safeParse(v).success;
    for (const id of ["chn_x", "chn_nope", `chn_${"A".repeat(128)}`]) expect(ok(channels.ChannelRefInputSchema, { channel_id: id })).toBe(true);
    for (const id of ["chn_", `chn_${"A".repeat(129)}`, "chn_no pe", "main"]) expect(ok(channels.ChannelRefInputSchema, { channel_id: id })).toBe(false);
    for (const code of ["inv_x", "rejoin_x", `inv_${"A".repeat(128)}`]) expect(ok(channels.JoinChannelInputSchema, { invite_code: code })).toBe(true);
    for (const code of ["inv_", `inv_${"A".repeat(129)}`, "let me in"]) expect(ok(channels.JoinChannelInputSchema, { invite_code: code })).toBe(false);
    for (const id of ["bot_x", `bot_${"A".repeat(128)}`]) expect(ok(channels.BotRefInputSchema, { channel_id: "chn_x", bot_id: id })).toBe(true);
    for (const id of ["bot_", `bot_${"A".repeat(129)}`, "referee"]) expect(ok(channels.BotRefInputSchema, { channel_id: "chn_x", bot_id: id })).toBe(false);
  });
});

/** The real engine behind a gate: while it is shut, hooks wait (a bot busy on a slow hook). */
function gated(inner: BotEngine) {
  let open: Promise<void> = Promise.resolve();
  let release = () => {};
  return {
    id: inner.id,
    async run(...args: Parameters<BotEngine["run"]>) {
      await open;
      return inner.run(...args);
    },
    shut() {
      open = new Promise((resolve) => (release = resolve));
    },
    open: () => release(),
  };
}

function server(dataDir: string, botEngine: BotEngine): channels.ChannelsContext & { store: SqliteStore } {
  return {
    store: new SqliteStore(dataDir),
    notifier: new channels.Notifier(),
    limits: { maxMessageBytes: 4096 },
    bots: channels.createBotsRuntime({ engine: botEngine, presets: new Map(PRESETS), manifestOf: (code) => engine.manifestOf(code) }),
  };
}

const within = <T,>(ms: number, p: Promise<T>) => Promise.race([p.then(() => "done" as const), Bun.sleep(ms).then(() => "stuck" as const)]);

describe("bots' catch-up state belongs to one server", () => {
  test("a copy of a server's data served in the same process answers its bots at once, while the first server is stuck in a hook", async () => {
    using dir = tempDir();
    using copy = tempDir();
    const slow = gated(engine);
    const first = server(dir.path, slow);
    const ch = await channels.createChannel(first, alice, { name: "echo", slots: ["invite:a", "bot:ref"], bot_preset: "EchoBot" });
    await channels.joinChannel(first, alice, { invite_code: ch.invites[0]! });
    await channels.runBots(first, ch.channel_id);
    slow.shut();
    await channels.postMessage(first, alice, { channel_id: ch.channel_id, body: "held" });
    const stuck = channels.runBots(first, ch.channel_id);

    // A consistent copy (a restored backup; or the same data after an in-process restart) served beside it.
    first.store.db.run(`VACUUM INTO '${copy.path}/parley.db'`);
    const second = server(copy.path, engine);
    await channels.postMessage(second, alice, { channel_id: ch.channel_id, body: "next" });
    expect(await within(5_000, channels.runBots(second, ch.channel_id))).toBe("done");
    const { messages } = await channels.syncMessages(second, alice, { channel_id: ch.channel_id, cursor: 0, timeout_ms: 0, limit: 100 });
    expect(messages.filter((m) => m.kind === "bot").map((m) => m.body.echo ?? m.body.text)).toEqual(["Echo ready", "Welcome, s0", "held", "next"]);
    second.store.close();
    first.store.close(); // its hook never returns: the gate stays shut
    void stuck;
  }, 15_000);

  test("a server keeps nothing per channel once its channels are at rest, with bots or without", async () => {
    using dir = tempDir();
    const srv = server(dir.path, engine);
    for (const bot_preset of [undefined, "EchoBot", undefined, "DiceBot"]) {
      const ch = await channels.createChannel(srv, alice, { name: "rest", slots: ["invite:a", "bot:ref"], ...(bot_preset ? { bot_preset } : {}) });
      await channels.joinChannel(srv, alice, { invite_code: ch.invites[0]! });
      await channels.postMessage(srv, alice, { channel_id: ch.channel_id, body: "hello" });
      await channels.runBots(srv, ch.channel_id);
    }
    expect([srv.bots!.catchUps.size, srv.bots!.attaching.size]).toEqual([0, 0]);
    srv.store.close();
  });
});
