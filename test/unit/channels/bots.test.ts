import { afterAll, describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { PRESETS, SandboxEngine } from "../../../src/sandbox/index.ts";
import { SqliteStore } from "../../../src/store/index.ts";
import type { BotEngine } from "../../../src/transcript/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const engine = new SandboxEngine();
afterAll(() => engine.dispose());

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
const alice = { principal: "alice" };

describe("bots' catch-up state belongs to one server", () => {
  test("a copy of a server's data served in the same process answers its bots at once, while the first server is stuck in a hook", async () => {
    using dir = tempDir();
    using copy = tempDir();
    const slow = gated(engine);
    const first = server(dir.path, slow);
    const ch = await channels.createChannel(first, alice, { name: "echo", slots: ["invite:a"], bot_preset: "EchoBot" });
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
      const ch = await channels.createChannel(srv, alice, { name: "rest", slots: ["invite:a"], ...(bot_preset ? { bot_preset } : {}) });
      await channels.joinChannel(srv, alice, { invite_code: ch.invites[0]! });
      await channels.postMessage(srv, alice, { channel_id: ch.channel_id, body: "hello" });
      await channels.runBots(srv, ch.channel_id);
    }
    expect([srv.bots!.catchUps.size, srv.bots!.attaching.size]).toEqual([0, 0]);
    srv.store.close();
  });
});
