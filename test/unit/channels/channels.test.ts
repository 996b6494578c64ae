import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as channels from "../../../src/channels/index.ts";
import { AppError } from "../../../src/errors.ts";
import { SqliteStore } from "../../../src/store/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

function setup() {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  const ctx: channels.ChannelsContext = { store, notifier: new channels.Notifier(), limits: { maxMessageBytes: 1024 } };
  return {
    ctx,
    dir,
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

const who = (principal: string) => ({ principal });
const sync = (ctx: channels.ChannelsContext, p: string, channel_id: string, cursor = 0) =>
  channels.syncMessages(ctx, who(p), { channel_id, cursor, timeout_ms: 0, limit: 500 });

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof AppError) return e.code;
    throw e;
  }
  return "OK";
}

describe("channels domain", () => {
  test("invite codes and rejoin tokens are stored only as hashes", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a"] });
    const joined = await channels.joinChannel(s.ctx, who("p2"), { invite_code: created.invites[0]! });
    // Read the database and its WAL as bytes: the secrets must appear in neither.
    const raw = readFileSync(join(s.dir.path, "parley.db")).toString("latin1") + readFileSync(join(s.dir.path, "parley.db-wal")).toString("latin1");
    expect(raw).not.toContain(created.invites[0]!.slice(4));
    expect(raw).not.toContain(joined.rejoin_token.slice(7));
    expect(raw).toContain("slot:join"); // the files do hold the channel's data
  });

  test("secrets carry at least 128 random bits", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a", "invite:b"] });
    for (const code of created.invites) expect(Buffer.from(code.slice(4), "base64url").length * 8).toBeGreaterThanOrEqual(128);
    const joined = await channels.joinChannel(s.ctx, who("p2"), { invite_code: created.invites[0]! });
    expect(Buffer.from(joined.rejoin_token.slice(7), "base64url").length * 8).toBeGreaterThanOrEqual(128);
    expect(Buffer.from(created.channel_id.slice(4), "base64url").length * 8).toBeGreaterThanOrEqual(128);
  });

  test("two callers racing for one invite: exactly one gets the slot", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a"] });
    const results = await Promise.all(
      ["p2", "p3", "p4"].map((p) => codeOf(channels.joinChannel(s.ctx, who(p), { invite_code: created.invites[0]! }))),
    );
    expect(results.filter((r) => r === "OK")).toHaveLength(1);
    expect(results.filter((r) => r === "SLOT_ALREADY_FILLED")).toHaveLength(2);
    const log = await sync(s.ctx, "p1", created.channel_id);
    expect(log.messages.filter((m) => m.body.type === "slot:join")).toHaveLength(1);
  });

  test("a member holds one slot per channel", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a", "invite:b"] });
    await channels.joinChannel(s.ctx, who("p2"), { invite_code: created.invites[0]! });
    expect(await codeOf(channels.joinChannel(s.ctx, who("p2"), { invite_code: created.invites[1]! }))).toBe("INVALID_REQUEST");
    // Redeeming one's own invite again is harmless: same slot, fresh rejoin token.
    const again = await channels.joinChannel(s.ctx, who("p2"), { invite_code: created.invites[0]! });
    expect(again.slot_id).toBe("s0");
  });

  test("the creator administers but must redeem an invite to post; admins without a slot read public messages", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a"] });
    expect(await codeOf(channels.postMessage(s.ctx, who("p1"), { channel_id: created.channel_id, body: "hi" }))).toBe("NOT_MEMBER");
    const log = await sync(s.ctx, "p1", created.channel_id);
    expect(log.messages[0]!.body.type).toBe("channel:create");
    expect(log.view.admin).toBe(true);
    expect(await codeOf(sync(s.ctx, "stranger", created.channel_id))).toBe("NOT_MEMBER");
  });

  test("post_message refuses bodies over the configured limit without writing", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a"] });
    await channels.joinChannel(s.ctx, who("p2"), { invite_code: created.invites[0]! });
    const before = await sync(s.ctx, "p2", created.channel_id);
    expect(await codeOf(channels.postMessage(s.ctx, who("p2"), { channel_id: created.channel_id, body: "x".repeat(1025) }))).toBe("INVALID_REQUEST");
    expect((await sync(s.ctx, "p2", created.channel_id)).messages).toEqual(before.messages);
  });

  test("syncMessages waits for news and wakes on a post; a private message for another slot does not end the wait early", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a", "invite:b"] });
    await channels.joinChannel(s.ctx, who("p2"), { invite_code: created.invites[0]! });
    await channels.joinChannel(s.ctx, who("p3"), { invite_code: created.invites[1]! });
    const head = await sync(s.ctx, "p3", created.channel_id);
    const waiting = channels.syncMessages(s.ctx, who("p3"), { channel_id: created.channel_id, cursor: head.cursor, timeout_ms: 10_000, limit: 500 });
    // A message only s0 may see wakes the waiter, which must re-check and keep waiting.
    await s.ctx.store.apply(created.channel_id, [], [{ sender: "system", kind: "system", body: { secret: true }, ts: new Date().toISOString(), to_slot: "s0" }], channels.sealMessage);
    s.ctx.notifier.notify(created.channel_id);
    const posted = await channels.postMessage(s.ctx, who("p2"), { channel_id: created.channel_id, body: "public" });
    const got = await waiting;
    expect(got.messages.map((m) => m.id)).toEqual([posted.msg_id]);
  });

  test("update_channel is all or nothing: a bad op leaves no change and no message", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("p1"), { name: "t", slots: ["invite:a"] });
    const before = await sync(s.ctx, "p1", created.channel_id);
    const res = channels.updateChannel(s.ctx, who("p1"), { channel_id: created.channel_id, ops: [{ type: "rename", name: "new" }, { type: "kick", slot_id: "s7" }] });
    expect(await codeOf(res)).toBe("INVALID_REQUEST");
    const after = await sync(s.ctx, "p1", created.channel_id);
    expect(after.messages).toEqual(before.messages);
    expect(after.view.name).toBe("t");
  });

  test("a rejoin whose answer was lost can be retried with the same token by its new holder, and by nobody else", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("owner"), { name: "t", slots: ["invite:a", "invite:b"] });
    const first = await channels.joinChannel(s.ctx, who("session-1"), { invite_code: created.invites[0]! });
    // session-2 redeems the token; its answer (with the next token) never arrives.
    await channels.joinChannel(s.ctx, who("session-2"), { invite_code: first.rejoin_token });
    const retry = await channels.joinChannel(s.ctx, who("session-2"), { invite_code: first.rejoin_token });
    expect(retry.slot_id).toBe(first.slot_id);
    const log = await sync(s.ctx, "session-2", created.channel_id);
    expect(log.messages.filter((m) => m.body.type === "slot:rejoin")).toHaveLength(1); // the retry moved nothing
    // The session that gave the seat away cannot take it back with the old token, nor can anyone else.
    expect(await codeOf(channels.joinChannel(s.ctx, who("session-1"), { invite_code: first.rejoin_token }))).toBe("INVITE_INVALID");
    expect(await codeOf(channels.joinChannel(s.ctx, who("stranger"), { invite_code: first.rejoin_token }))).toBe("INVITE_INVALID");
    // The token from the retry is the current one: it moves the seat on as usual.
    const moved = await channels.joinChannel(s.ctx, who("session-3"), { invite_code: retry.rejoin_token });
    expect(moved.slot_id).toBe(first.slot_id);
    expect(await codeOf(channels.joinChannel(s.ctx, who("session-2"), { invite_code: first.rejoin_token }))).toBe("INVITE_INVALID");
  });

  test("the creator's own seat is an admin seat: admin rights follow it to a new identity via the rejoin token", async () => {
    using s = setup();
    const created = await channels.createChannel(s.ctx, who("creator-session-1"), { name: "t", slots: ["invite:a", "invite:b"] });
    const seat = await channels.joinChannel(s.ctx, who("creator-session-1"), { invite_code: created.invites[0]! });
    expect(seat.view.slots[0]!.admin).toBe(true);
    // The creating session is gone (restart); a new session takes the seat back.
    const back = await channels.joinChannel(s.ctx, who("creator-session-2"), { invite_code: seat.rejoin_token });
    expect(back.view.admin).toBe(true);
    const res = await channels.updateChannel(s.ctx, who("creator-session-2"), { channel_id: created.channel_id, ops: [{ type: "rename", name: "still mine" }] });
    expect(res.view.name).toBe("still mine");
    // A player seated by someone else's invite is not made admin.
    const other = await channels.joinChannel(s.ctx, who("player"), { invite_code: created.invites[1]! });
    expect(other.view.admin).toBe(false);
  });
});
