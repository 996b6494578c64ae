import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { syncUntil } from "../helpers/mcp-client.ts";
import { useServer } from "../helpers/server-fixture.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const env = useServer(["admin", "player", "stranger"]);
let channelId = "";
let botId = "";

beforeAll(async () => {
  const ch = await env.admin.call("create_channel", { name: "t", slots: ["invite:a", "invite:b", "bot:ref", "bot:extra"], bot_preset: "EchoBot" });
  channelId = ch.channel_id;
  botId = ch.bots[0].bot_id;
  await env.player.call("join_channel", { invite_code: ch.invites[1] });
});

describe("bot tools refuse bad input with stable codes and change nothing", () => {
  const cases: [string, () => Promise<string>, string][] = [
    ["create_channel with an unknown preset", () => env.admin.error("create_channel", { name: "x", slots: ["invite:a", "bot:ref"], bot_preset: "ChessBot" }), "BOT_NOT_FOUND:"],
    ["create_channel with both bot_code and bot_preset", () => env.admin.error("create_channel", { name: "x", slots: ["invite:a", "bot:ref"], bot_preset: "EchoBot", bot_code: "export default {}" }), "INVALID_REQUEST:"],
    ["create_channel with code that does not load", () => env.admin.error("create_channel", { name: "x", slots: ["invite:a", "bot:ref"], bot_code: "export default {" }), "BOT_ERROR:"],
    ["create_channel with a manifest that breaks the rules", () => env.admin.error("create_channel", { name: "x", slots: ["invite:a", "bot:ref"], bot_code: 'export const manifest = { name: "9bad" }; export default {}' }), "BOT_ERROR:"],
    ["attach_bot by a non-admin", () => env.player.error("attach_bot", { channel_id: channelId, bot_preset: "DiceBot" }), "NOT_ADMIN:"],
    ["attach_bot with neither code nor preset", () => env.admin.error("attach_bot", { channel_id: channelId }), "INVALID_REQUEST:"],
    ["attach_bot into an invite slot", () => env.admin.error("attach_bot", { channel_id: channelId, bot_preset: "DiceBot", slot_id: "s0" }), "INVALID_REQUEST:"],
    ["attach_bot into a bot slot that has a bot", () => env.admin.error("attach_bot", { channel_id: channelId, bot_preset: "DiceBot", slot_id: "s2" }), "SLOT_ALREADY_FILLED:"],
    ["dm_bot to an unknown bot", () => env.player.error("dm_bot", { channel_id: channelId, bot_id: "bot_doesnotexist", message: "hi" }), "BOT_NOT_FOUND:"],
    ["dm_bot to a bot_ id of another length than ours", () => env.player.error("dm_bot", { channel_id: channelId, bot_id: "bot_x", message: "hi" }), "BOT_NOT_FOUND:"],
    ["kick of the seat a bot holds", () => env.admin.error("update_channel", { channel_id: channelId, ops: [{ type: "kick", slot_id: "s2" }] }), "INVALID_REQUEST: Slot s2 is a bot seat; it holds bot "],
    ["create_channel with a bot but no bot: seat", () => env.admin.error("create_channel", { name: "x", slots: ["invite:a"], bot_preset: "EchoBot" }), "INVALID_REQUEST:"],
    ["create_channel whose bot's onInit fails", () => env.admin.error("create_channel", { name: "x", slots: ["invite:a", "bot:ref"], bot_code: "export default { onInit() { throw new TypeError('no table'); } };" }), "BOT_ERROR:"],
    ["dm_bot from someone without a seat", () => env.stranger.error("dm_bot", { channel_id: channelId, bot_id: botId, message: "hi" }), "NOT_MEMBER:"],
    ["dm_bot with an empty message", () => env.player.error("dm_bot", { channel_id: channelId, bot_id: botId, message: "" }), "INVALID_REQUEST:"],
    ["get_bot_code by a stranger", () => env.stranger.error("get_bot_code", { channel_id: channelId, bot_id: botId }), "NOT_MEMBER:"],
    ["get_bot_code with a malformed bot id", () => env.player.error("get_bot_code", { channel_id: channelId, bot_id: "nope" }), "INVALID_REQUEST:"],
  ];
  for (const [name, run, code] of cases) {
    test(name, async () => {
      const before = await env.admin.call("get_channel_info", { channel_id: channelId });
      const channelsBefore = await env.admin.call("list_channels");
      expect(await run()).toStartWith(code);
      expect(await env.admin.call("get_channel_info", { channel_id: channelId })).toEqual(before);
      // No half-made channel is left behind by a refused create_channel.
      expect(await env.admin.call("list_channels")).toEqual(channelsBefore);
    });
  }

  test("attach_bot by the admin seats a second bot in a free bot slot and announces it", async () => {
    const res = await env.admin.call("attach_bot", { channel_id: channelId, bot_preset: "DiceBot", slot_id: "s3" });
    expect(res.code_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const info = await env.player.call("get_channel_info", { channel_id: channelId });
    expect(info.bots.map((b: any) => [b.name, b.slot_id])).toEqual([["EchoBot", "s2"], ["DiceBot", "s3"]]);
  });

  test("a seated bot's seat shows as filled, to every member and in create_channel's answer", async () => {
    const info = await env.player.call("get_channel_info", { channel_id: channelId });
    expect(info.view.slots.map((s: any) => [s.slot_id, s.filled])).toEqual([["s0", false], ["s1", true], ["s2", true], ["s3", true]]);
    const ch = await env.admin.call("create_channel", { name: "seats", slots: ["invite:a", "bot:ref", "bot:spare"], bot_preset: "EchoBot" });
    expect(ch.view.slots.map((s: any) => [s.slot_id, s.kind, s.filled])).toEqual([["s0", "invite", false], ["s1", "bot", true], ["s2", "bot", false]]);
    expect(ch.bots.map((b: any) => b.slot_id)).toEqual(["s1"]);
  });

  test("attach_bot with every bot seat taken is refused (SLOT_ALREADY_FILLED) and changes nothing", async () => {
    const before = await env.admin.call("sync_messages", { channel_id: channelId, timeout_ms: 0, limit: 1000 });
    const text = await env.admin.error("attach_bot", { channel_id: channelId, bot_preset: "DiceBot" });
    expect(text).toStartWith("SLOT_ALREADY_FILLED: Every bot seat of");
    const after = await env.admin.call("sync_messages", { channel_id: channelId, timeout_ms: 0, limit: 1000 });
    expect(after.messages).toEqual(before.messages);
    expect((await env.admin.call("get_channel_info", { channel_id: channelId })).bots).toHaveLength(2);
  });

  test("attach_bot without slot_id seats the bot in the first free bot seat", async () => {
    const ch = await env.admin.call("create_channel", { name: "free seat", slots: ["invite:a", "bot:one", "invite:b", "bot:two"], bot_preset: "EchoBot" });
    const { bot_id } = await env.admin.call("attach_bot", { channel_id: ch.channel_id, bot_preset: "DiceBot" });
    const info = await env.admin.call("get_channel_info", { channel_id: ch.channel_id });
    expect(info.bots.map((b: any) => [b.bot_id === bot_id ? "new" : "first", b.slot_id])).toEqual([["first", "s1"], ["new", "s3"]]);
  });

  test("attach_bot whose onInit fails: the bot is attached (its announcement is in the log), the answer says so, and the closed channel replays", async () => {
    const ch = await env.admin.call("create_channel", { name: "broken init", slots: ["invite:a", "bot:ref"] });
    await env.admin.call("join_channel", { invite_code: ch.invites[0] });
    const broken = "export default { onInit(ctx) { ctx.setState({ n: ctx.randomInt(10, 1) }); }, onMessage(ctx, m) { ctx.post('bot', { state: ctx.getState() }); } };";
    const res = await env.admin.call("attach_bot", { channel_id: ch.channel_id, bot_code: broken });
    expect(res.bot_error).toMatchObject({ code: "BOT_ERROR", reason: "exception", message: expect.stringContaining("RangeError") });
    const info = await env.admin.call("get_channel_info", { channel_id: ch.channel_id });
    expect(info.bots.map((b: any) => b.bot_id)).toEqual([res.bot_id]);
    await env.admin.call("post_message", { channel_id: ch.channel_id, body: "anyone there?" });
    const { messages } = await syncUntil(env.admin, ch.channel_id, (ms) => ms.some((m) => m.kind === "bot"));
    expect(messages.find((m) => m.body.type === "bot:error")).toMatchObject({ body: { bot_id: res.bot_id, reason: "exception" } });
    expect(messages.find((m) => m.kind === "bot").body).toEqual({ state: null });
    await env.admin.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "close" }] });
    const t = await env.admin.call("get_transcript", { channel_id: ch.channel_id });
    using dir = tempDir();
    const file = join(dir.path, "broken.json");
    writeFileSync(file, JSON.stringify(t));
    const r = Bun.spawnSync([process.execPath, resolve(import.meta.dir, "../../src/main.ts"), "verify", file], { stdout: "pipe" });
    expect(r.stdout.toString()).toContain("replay: every bot message reproduced exactly");
    expect(r.exitCode).toBe(0);
  });

  test("a bot attached to a channel with history starts at its own attach: earlier messages are not its to answer, and the game replays", async () => {
    const ch = await env.admin.call("create_channel", { name: "late bot", slots: ["invite:a", "bot:ref"] });
    await env.admin.call("join_channel", { invite_code: ch.invites[0] });
    await env.admin.call("post_message", { channel_id: ch.channel_id, body: "before any bot" });
    const { bot_id } = await env.admin.call("attach_bot", { channel_id: ch.channel_id, bot_preset: "EchoBot", slot_id: "s1" });
    await env.admin.call("post_message", { channel_id: ch.channel_id, body: "after the bot" });
    const { messages } = await syncUntil(env.admin, ch.channel_id, (ms) => ms.filter((m) => m.sender === `bot:${bot_id}`).length >= 2);
    const attach = messages.find((m) => m.body.type === "bot:attach");
    const answered = messages.filter((m) => m.sender === `bot:${bot_id}`).map((m) => m.reply_to);
    expect(Math.min(...answered)).toBe(attach.id);
    const before = messages.find((m) => m.body.text === "before any bot");
    expect(answered).not.toContain(before.id);
    await env.admin.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "close" }] });
    const t = await env.admin.call("get_transcript", { channel_id: ch.channel_id });
    using dir = tempDir();
    const file = join(dir.path, "late.json");
    writeFileSync(file, JSON.stringify(t));
    const r = Bun.spawnSync([process.execPath, resolve(import.meta.dir, "../../src/main.ts"), "verify", file], { stdout: "pipe" });
    expect(r.stdout.toString()).toContain("replay: every bot message reproduced exactly");
    expect(r.exitCode).toBe(0);
  });

  test("a channel's bots are bounded (every transcript carries their code): at most 8, and 256 KiB of code in all, even when attached at once", async () => {
    const botSeats = Array.from({ length: 10 }, (_, i) => `bot:b${i}`);
    const ch = await env.admin.call("create_channel", { name: "many bots", slots: ["invite:a", ...botSeats], bot_preset: "EchoBot" });
    // Eight attaches at once, for the seven places left: exactly one is refused.
    const results = await Promise.all(Array.from({ length: 8 }, () => env.admin.raw("attach_bot", { channel_id: ch.channel_id, bot_preset: "DiceBot" })));
    const refused = results.filter((r) => r.isError).map((r) => (r.content[0] as { text: string }).text);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toStartWith("INVALID_REQUEST: A channel holds at most 8 bots");
    expect((await env.admin.call("get_channel_info", { channel_id: ch.channel_id })).bots).toHaveLength(8);

    const big = `// ${"c".repeat(200 * 1024)}\nexport default {}`;
    const heavy = await env.admin.call("create_channel", { name: "heavy bot", slots: ["invite:a", "bot:ref", "bot:more"], bot_code: big });
    const more = `// ${"c".repeat(60 * 1024)}\nexport default {}`;
    expect(await env.admin.error("attach_bot", { channel_id: heavy.channel_id, bot_code: more })).toStartWith("INVALID_REQUEST: A channel's bots hold at most 256 KiB of code in all");
    expect((await env.admin.call("get_channel_info", { channel_id: heavy.channel_id })).bots).toHaveLength(1);
  });
});
