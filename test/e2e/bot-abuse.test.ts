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

/** Every message of the channel the client may see. */
async function readAll(client: TestClient, channelId: string): Promise<any[]> {
  const all: any[] = [];
  for (let cursor = 0; ; ) {
    const page = await client.call("sync_messages", { channel_id: channelId, cursor, timeout_ms: 0, limit: 1000 });
    if (page.messages.length === 0) return all;
    all.push(...page.messages);
    cursor = page.cursor;
  }
}

/** The first message matching `pred` after `cursor`, and the cursor after it. */
async function waitFor(client: TestClient, channelId: string, cursor: number, pred: (m: any) => boolean) {
  const read = await syncUntil(client, channelId, (ms) => ms.some(pred), cursor);
  return { hit: read.messages.find(pred), cursor: read.cursor };
}

describe("hostile bots on a live server", () => {
  for (const [name, attack, reason] of ATTACKS) {
    test(`${name}: BOT_ERROR (${reason}) is posted, other channels keep answering, the bot answers the next message`, async () => {
      const ch = await env.admin.call("create_channel", { name, slots: ["invite:a", "bot:ref"], bot_code: hostile(attack) });
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

/**
 * Issue 9, item 7: eight channels whose inline bots run native operations that only the worker kill
 * stops (two ~3 s BigInt conversions back to back: QuickJS never polls inside them). A bystander
 * channel's EchoBot must keep answering, and nothing may be written into its log.
 */
const NATIVE_HOG = hostile("(3n ** 600000n).toString() + (3n ** 600000n).toString();");
const HOSTILE_CHANNELS = 8;

describe("hostile bots in eight channels against a bystander's EchoBot", () => {
  test("the bystander answers every post within 2 s, its log gets no bot:reload or bot:error, the attackers' hooks end in deadline in their own logs", async () => {
    const by = await env.other.call("create_channel", { name: "echo bystander", slots: ["invite:o", "bot:echo"], bot_preset: "EchoBot" });
    await env.other.call("join_channel", { invite_code: by.invites[0] });
    const ready = await syncUntil(env.other, by.channel_id, (ms) => ms.some((m) => m.body.text === "Welcome, s0"));

    const attackers: { id: string; cursor: number }[] = [];
    for (let i = 0; i < HOSTILE_CHANNELS; i++) {
      const ch = await env.admin.call("create_channel", { name: `hog ${i}`, slots: ["invite:a", "bot:ref"], bot_code: NATIVE_HOG });
      await env.admin.call("join_channel", { invite_code: ch.invites[0] });
      const head = await env.admin.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
      attackers.push({ id: ch.channel_id, cursor: head.cursor });
    }
    // Two attacks per channel: each hook runs until its worker is killed (3 s).
    for (let round = 0; round < 2; round++) {
      for (const a of attackers) await env.admin.call("post_message", { channel_id: a.id, body: `attack ${round}` });
    }
    const killed = Promise.all(
      attackers.map((a) => syncUntil(env.admin, a.id, (ms) => ms.filter((m) => m.body.type === "bot:error").length >= 2, a.cursor)),
    );
    let done = false;
    void killed.finally(() => (done = true));

    const roundTrips: number[] = [];
    let cursor = ready.cursor;
    while (!done || roundTrips.length < 3) {
      const t0 = performance.now();
      const text = `ping ${roundTrips.length}`;
      await env.other.call("post_message", { channel_id: by.channel_id, body: text });
      const read = await syncUntil(env.other, by.channel_id, (ms) => ms.some((m) => m.kind === "bot" && m.body.echo === text), cursor);
      cursor = read.cursor;
      roundTrips.push(performance.now() - t0);
    }
    const errors = (await killed).flatMap((r) => r.messages.filter((m) => m.body.type === "bot:error"));
    expect(errors.length).toBeGreaterThanOrEqual(2 * HOSTILE_CHANNELS);
    for (const e of errors) expect(e.body).toMatchObject({ code: "BOT_ERROR", reason: "deadline" });

    const log = await readAll(env.other, by.channel_id);
    const system = log.filter((m) => m.kind === "system").map((m) => m.body.type);
    console.log(`bystander during the attack: ${roundTrips.length} round trips, max ${Math.max(...roundTrips).toFixed(0)} ms; its system messages: ${system.join(", ")}`);
    expect(Math.max(...roundTrips)).toBeLessThan(2_000);
    expect(system).not.toContain("bot:reload");
    expect(system).not.toContain("bot:error");
    expect(log.filter((m) => m.kind === "bot" && m.body.echo !== undefined)).toHaveLength(roundTrips.length);
  }, 90_000);
});
