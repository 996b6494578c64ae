import { beforeAll, describe, expect, test } from "bun:test";
import { syncUntil, type TestClient } from "../helpers/mcp-client.ts";
import { useServer } from "../helpers/server-fixture.ts";

/**
 * Hostile inline bots against the real server: each hook that breaks a limit ends in a BOT_ERROR
 * system message, the bot answers the next message, and other channels keep being served.
 */
const env = useServer(["admin", "other"]);
let otherChannel: string;

beforeAll(async () => {
  const ch = await env.other.call("create_channel", { name: "bystander", slots: ["invite:o"] });
  await env.other.call("join_channel", { invite_code: ch.invites[0] });
  otherChannel = ch.channel_id;
});

const hostile = (attack: string) => `
export const manifest = { name: "Hostile", version: "1.0.0", description: "abuse test" };
export default {
  onMessage(ctx, msg) {
    if (msg.body.text === "ok") { ctx.post("bot", { alive: true }); return; }
    ${attack}
  },
};`;

const ATTACKS: [string, string, string][] = [
  ["while(true){}", "for (;;) {}", "budget"],
  ["a 2 GiB allocation loop", "const a = []; for (;;) a.push(new Float64Array(1e6));", "memory"],
  ["a string doubling loop", "let s = 'x'; for (;;) s += s;", "memory"],
  ["a regex bomb", "/(a+)+$/.test('a'.repeat(40) + '!');", "budget"],
  ["10,000 posts in one hook", "for (let i = 0; i < 10000; i++) ctx.post('bot', { i });", "outputs"],
  ["a 10 MB setState", "ctx.setState({ blob: 'x'.repeat(10 * 1024 * 1024) });", "state"],
  ["reaching for process, Bun, require and fetch", "ctx.post('bot', { leak: [typeof process, typeof Bun, typeof require, typeof fetch].join() }); globalThis.process.exit(1);", "exception"],
];

/** The first message matching `pred` after `cursor`, and the cursor after it. */
async function waitFor(client: TestClient, channelId: string, cursor: number, pred: (m: any) => boolean) {
  const read = await syncUntil(client, channelId, (ms) => ms.some(pred), cursor);
  return { hit: read.messages.find(pred), cursor: read.cursor };
}

describe("hostile bots on a live server", () => {
  for (const [name, attack, reason] of ATTACKS) {
    test(`${name}: BOT_ERROR (${reason}) is posted, other channels keep answering, the bot answers the next message`, async () => {
      const ch = await env.admin.call("create_channel", { name, slots: ["invite:a"], bot_code: hostile(attack) });
      await env.admin.call("join_channel", { invite_code: ch.invites[0] });
      const head = await env.admin.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
      await env.admin.call("post_message", { channel_id: ch.channel_id, body: "attack" });

      // Meanwhile another channel is served: post + read round trips keep completing.
      const latencies: number[] = [];
      const errorSeen = waitFor(env.admin, ch.channel_id, head.cursor, (m) => m.body.type === "bot:error");
      let done = false;
      void errorSeen.finally(() => (done = true));
      while (!done || latencies.length < 3) {
        const t0 = performance.now();
        await env.other.call("post_message", { channel_id: otherChannel, body: "still here" });
        latencies.push(performance.now() - t0);
      }
      const { hit: error, cursor } = await errorSeen;
      expect(error).toMatchObject({ kind: "system", sender: "system", body: { code: "BOT_ERROR", reason } });
      expect(error.body.message).not.toContain("[object");
      latencies.sort((a, b) => a - b);
      expect(latencies[Math.floor(latencies.length / 2)]!).toBeLessThan(100);

      await env.admin.call("post_message", { channel_id: ch.channel_id, body: "ok" });
      const { hit: alive } = await waitFor(env.admin, ch.channel_id, cursor, (m) => m.kind === "bot");
      expect(alive.body).toEqual({ alive: true });
      // Nothing the hostile hook posted before failing was delivered.
      const log = await env.admin.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0, limit: 1000 });
      expect(log.messages.filter((m: any) => m.kind === "bot")).toHaveLength(1);
    });
  }
});
