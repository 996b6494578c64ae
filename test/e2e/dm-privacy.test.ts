import { beforeAll, describe, expect, test } from "bun:test";
import { syncUntil } from "../helpers/mcp-client.ts";
import { useServer } from "../helpers/server-fixture.ts";

/**
 * Issue: private messages followed the seat, not the person. An admin kicked a player, reissued
 * the invite, redeemed it as someone else and read the kicked player's DMs with the bot. A DM
 * belongs to the seat's occupancy (its "tenure"): it survives a rejoin token handing the seat to
 * another app of the same player, and ends at a kick.
 */
const env = useServer(["admin", "alice", "aliceOtherApp", "mallory"]);
let channelId = "";
let botId = "";

const texts = (messages: any[]) => messages.map((m) => JSON.stringify(m.body));
const all = async (who: "admin" | "alice" | "aliceOtherApp" | "mallory") =>
  (await env[who].call("sync_messages", { channel_id: channelId, cursor: 0, timeout_ms: 0, limit: 1000 })).messages as any[];

beforeAll(async () => {
  const ch = await env.admin.call("create_channel", { name: "dm", slots: ["invite:a", "bot:ref"], bot_preset: "EchoBot" });
  channelId = ch.channel_id;
  botId = ch.bots[0].bot_id;
  const joined = await env.alice.call("join_channel", { invite_code: ch.invites[0] });
  await env.alice.call("dm_bot", { channel_id: channelId, bot_id: botId, message: "alice-secret-1" });
  await syncUntil(env.alice, channelId, (ms) => texts(ms).some((t) => t.includes('"echo":"alice-secret-1"')));
  // The same player continues from another app: the seat moves with its rejoin token.
  await env.aliceOtherApp.call("join_channel", { invite_code: joined.rejoin_token });
  await env.aliceOtherApp.call("dm_bot", { channel_id: channelId, bot_id: botId, message: "alice-secret-2" });
  await syncUntil(env.aliceOtherApp, channelId, (ms) => texts(ms).some((t) => t.includes('"echo":"alice-secret-2"')));
});

describe("private messages stay with the person who held the seat", () => {
  test("a rejoin from another app keeps the player's DMs and the bot's private answers", async () => {
    const seen = texts(await all("aliceOtherApp"));
    for (const secret of ["alice-secret-1", "alice-secret-2"]) {
      expect(seen.filter((t) => t.includes(secret))).toHaveLength(2); // the DM and the bot's private echo
    }
  });

  test("after kick + reissue_invite, the new occupant sees none of the kicked player's DMs, in sync or transcript", async () => {
    const upd = await env.admin.call("update_channel", { channel_id: channelId, ops: [{ type: "kick", slot_id: "s0" }, { type: "reissue_invite", slot_id: "s0" }] });
    await env.mallory.call("join_channel", { invite_code: upd.invites.s0 });

    const synced = texts(await all("mallory"));
    expect(synced.join("\n")).not.toContain("alice-secret");
    expect(synced.some((t) => t.includes("slot:kick"))).toBe(true); // public history is still there

    const transcript = await env.mallory.call("get_transcript", { channel_id: channelId });
    expect(JSON.stringify(transcript.messages)).not.toContain("alice-secret");
    // Redacted, not dropped: the chain stays whole and checkable.
    const redacted = transcript.messages.filter((m: any) => m.redacted);
    expect(redacted.length).toBeGreaterThanOrEqual(4);
    expect(redacted.every((m: any) => typeof m.hash === "string" && m.to_slot)).toBe(true);

    // The kicked player's other app lost the seat, and with it the channel.
    expect(await env.aliceOtherApp.error("sync_messages", { channel_id: channelId, timeout_ms: 0 })).toStartWith("NOT_MEMBER:");
  });

  test("the new occupant's own DMs are theirs: sent, answered privately, and visible to them", async () => {
    await env.mallory.call("dm_bot", { channel_id: channelId, bot_id: botId, message: "mallory-secret" });
    const { messages } = await syncUntil(env.mallory, channelId, (ms) => texts(ms).some((t) => t.includes('"echo":"mallory-secret"')));
    expect(texts(messages).join("\n")).not.toContain("alice-secret");
    // The admin holds no seat: private messages are not theirs to read while the channel is open.
    expect(texts(await all("admin")).join("\n")).not.toMatch(/alice-secret|mallory-secret/);
  });

  test("after close, the whole log (every occupant's DMs included) is in the transcript, so the game can be verified", async () => {
    await env.admin.call("update_channel", { channel_id: channelId, ops: [{ type: "close" }] });
    const transcript = await env.mallory.call("get_transcript", { channel_id: channelId });
    const body = JSON.stringify(transcript.messages);
    expect(body).toContain("alice-secret-1");
    expect(body).toContain("mallory-secret");
    expect(transcript.messages.some((m: any) => m.redacted)).toBe(false);
    // The live feed keeps its rule after close: only this occupancy's private messages.
    expect(texts(await all("mallory")).join("\n")).not.toContain("alice-secret");
  });
});
