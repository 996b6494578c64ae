import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { useServer } from "../helpers/server-fixture.ts";

const env = useServer(["alice", "bob"]);

async function openChannel(labels = ["alice", "bob"]) {
  const created = await env.alice.call("create_channel", { name: "table", slots: labels.map((l) => `invite:${l}`) });
  const a = await env.alice.call("join_channel", { invite_code: created.invites[0] });
  const b = await env.bob.call("join_channel", { invite_code: created.invites[1] });
  return { id: created.channel_id as string, created, a, b };
}

describe("channels over MCP (two real SDK clients)", () => {
  test("tools/list lists every channel tool of the README's tool reference, with an input schema", async () => {
    const { tools } = await env.alice.client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(
      ["attach_bot", "create_channel", "dm_bot", "get_bot_code", "get_channel_info", "get_transcript", "health_check", "join_channel", "list_channels", "post_message", "sync_messages", "update_channel"].sort(),
    );
    for (const t of tools) expect(t.inputSchema.type).toBe("object");
  });

  test("create_channel returns one invite per invite slot, in order, and makes the creator admin", async () => {
    const res = await env.alice.call("create_channel", { name: "x", slots: ["invite:a", "bot:ref", "invite:b"] });
    expect(res.channel_id).toMatch(/^chn_/);
    expect(res.invites).toHaveLength(2);
    for (const code of res.invites) expect(code).toMatch(/^inv_[A-Za-z0-9_-]{26,}$/);
    expect(res.view.slots.map((s: any) => [s.slot_id, s.label, s.kind])).toEqual([
      ["s0", "a", "invite"],
      ["s1", "ref", "bot"],
      ["s2", "b", "invite"],
    ]);
    expect(res.view.admin).toBe(true);
    expect(res.view.you).toBeNull();
  });

  test("both players join, post, and see each other's messages in order", async () => {
    const { id, a, b } = await openChannel();
    expect([a.slot_id, b.slot_id]).toEqual(["s0", "s1"]);
    expect(a.rejoin_token).toMatch(/^rejoin_/);
    const p1 = await env.alice.call("post_message", { channel_id: id, body: "hello bob" });
    const p2 = await env.bob.call("post_message", { channel_id: id, body: "hello alice" });
    expect(p2.msg_id).toBeGreaterThan(p1.msg_id);
    for (const who of [env.alice, env.bob]) {
      const sync = await who.call("sync_messages", { channel_id: id, cursor: 0, timeout_ms: 0 });
      const users = sync.messages.filter((m: any) => m.kind === "user");
      expect(users.map((m: any) => [m.sender, m.body.text])).toEqual([
        ["s0", "hello bob"],
        ["s1", "hello alice"],
      ]);
      const ids = sync.messages.map((m: any) => m.id);
      expect(ids).toEqual([...ids].sort((x: number, y: number) => x - y));
      expect(sync.cursor).toBe(ids.at(-1));
      for (const m of sync.messages) expect(m.hash).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  test("post_message and dm_bot answer the stored message's id as `id`, the name messages carry; `msg_id` is the same number, kept for prompts written against it", async () => {
    const created = await env.alice.call("create_channel", { name: "ids", slots: ["invite:alice", "bot:ref"], bot_preset: "EchoBot" });
    await env.alice.call("join_channel", { invite_code: created.invites[0] });
    const posted = await env.alice.call("post_message", { channel_id: created.channel_id, body: "which id?" });
    const dm = await env.alice.call("dm_bot", { channel_id: created.channel_id, bot_id: created.bots[0].bot_id, message: "and this one?" });
    const { messages } = await env.alice.call("sync_messages", { channel_id: created.channel_id, timeout_ms: 0, limit: 1000 });
    const stored = (text: string) => messages.find((m: any) => m.kind === "user" && m.body.text === text);
    expect(posted).toEqual({ id: stored("which id?").id, ts: stored("which id?").ts, msg_id: stored("which id?").id });
    expect(dm).toEqual({ ok: true, delivered_to: `bot:${created.bots[0].bot_id}`, id: stored("and this one?").id, msg_id: stored("and this one?").id });
  });

  test("a waiting sync_messages returns as soon as the other side posts", async () => {
    const { id } = await openChannel();
    const first = await env.bob.call("sync_messages", { channel_id: id, cursor: 0, timeout_ms: 0 });
    const started = Date.now();
    const waiting = env.bob.call("sync_messages", { channel_id: id, cursor: first.cursor, timeout_ms: 20_000 });
    await Bun.sleep(100);
    const posted = await env.alice.call("post_message", { channel_id: id, body: "wake up" });
    const got = await waiting;
    expect(got.messages.map((m: any) => m.id)).toEqual([posted.msg_id]);
    expect(got.cursor).toBe(posted.msg_id);
    // Woken by the post, not by its 20 s timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("sync_messages with nothing new returns empty after timeout_ms with the same cursor", async () => {
    const { id } = await openChannel();
    const first = await env.bob.call("sync_messages", { channel_id: id, cursor: 0, timeout_ms: 0 });
    const again = await env.bob.call("sync_messages", { channel_id: id, cursor: first.cursor, timeout_ms: 200 });
    expect(again.messages).toEqual([]);
    expect(again.cursor).toBe(first.cursor);
  });

  test("join records a system message and get_channel_info shows the seats", async () => {
    const { id } = await openChannel();
    const info = await env.bob.call("get_channel_info", { channel_id: id });
    expect(info.view.you).toBe("s1");
    expect(info.view.slots.map((s: any) => s.filled)).toEqual([true, true]);
    const sync = await env.bob.call("sync_messages", { channel_id: id, timeout_ms: 0 });
    expect(sync.messages.map((m: any) => m.body.type)).toEqual(["channel:create", "slot:join", "slot:join"]);
    expect(sync.messages.every((m: any) => m.kind === "system" && m.sender === "system")).toBe(true);
  });

  test("list_channels shows only the caller's own channels", async () => {
    const { id } = await openChannel();
    await using carol = await connect(env.server.mcpUrl, "carol");
    const own = await carol.call("create_channel", { name: "carol's", slots: ["invite:c"] });
    const carolList = (await carol.call("list_channels")).channels.map((c: any) => c.channel_id);
    expect(carolList).toEqual([own.channel_id]);
    const bobList = (await env.bob.call("list_channels")).channels.map((c: any) => c.channel_id);
    expect(bobList).toContain(id);
    expect(bobList).not.toContain(own.channel_id);
  });

  test("a rejoin token moves the slot to a new session; the old holder loses it", async () => {
    const { id, b } = await openChannel();
    await using bob2 = await connect(env.server.mcpUrl, "bob-again");
    const back = await bob2.call("join_channel", { invite_code: b.rejoin_token });
    expect(back.slot_id).toBe("s1");
    expect(back.rejoin_token).not.toBe(b.rejoin_token);
    // The old holder is told what happened on its next call.
    expect(await env.bob.error("post_message", { channel_id: id, body: "still me?" })).toStartWith("NOT_MEMBER: Your slot s1");
    expect(await env.bob.error("sync_messages", { channel_id: id, timeout_ms: 0 })).toContain("taken over with its rejoin token");
    // The used token is dead for the old holder; its redeemer may retry it (a lost answer) and gets a fresh one.
    expect(await env.bob.error("join_channel", { invite_code: b.rejoin_token })).toStartWith("INVITE_INVALID:");
    const retried = await bob2.call("join_channel", { invite_code: b.rejoin_token });
    expect(retried.slot_id).toBe("s1");
    expect(retried.rejoin_token).not.toBe(back.rejoin_token);
    const posted = await bob2.call("post_message", { channel_id: id, body: "back" });
    const seen = await env.alice.call("sync_messages", { channel_id: id, cursor: posted.msg_id - 1, timeout_ms: 0 });
    expect(seen.messages[0]).toMatchObject({ sender: "s1", body: { text: "back" } });
  });

  test("update_channel: rename, reissue_invite, kick, set_admin and close, each with a system message", async () => {
    const { id } = await openChannel();
    expect(await env.bob.error("update_channel", { channel_id: id, ops: [{ type: "close" }] })).toStartWith("NOT_ADMIN:");
    const kicked = await env.alice.call("update_channel", { channel_id: id, ops: [{ type: "rename", name: "renamed" }, { type: "kick", slot_id: "s1" }, { type: "reissue_invite", slot_id: "s1" }] });
    expect(kicked.view.name).toBe("renamed");
    expect(kicked.view.slots[1].filled).toBe(false);
    expect(kicked.invites.s1).toMatch(/^inv_/);
    expect(await env.bob.error("sync_messages", { channel_id: id, timeout_ms: 0 })).toStartWith("NOT_MEMBER: You were removed from slot s1");
    await using dave = await connect(env.server.mcpUrl, "dave");
    expect((await dave.call("join_channel", { invite_code: kicked.invites.s1 })).slot_id).toBe("s1");
    await env.alice.call("update_channel", { channel_id: id, ops: [{ type: "set_admin", slot_id: "s1", admin: true }] });
    const closed = await dave.call("update_channel", { channel_id: id, ops: [{ type: "close" }] });
    expect(closed.view.status).toBe("closed");
    expect(await dave.error("post_message", { channel_id: id, body: "late" })).toStartWith("CHANNEL_CLOSED:");
    const log = await env.alice.call("sync_messages", { channel_id: id, timeout_ms: 0 });
    expect(log.messages.map((m: any) => m.body.type).slice(-6)).toEqual([
      "channel:rename",
      "slot:kick",
      "slot:reissue_invite",
      "slot:join",
      "slot:set_admin",
      "channel:close",
    ]);
  });

  test("resources: the quick-start and messages guides are readable", async () => {
    const { resources } = await env.alice.client.listResources();
    expect(resources.map((r) => r.uri).filter((u) => u.startsWith("doc://")).sort()).toEqual(["doc://bots", "doc://gateway", "doc://messages", "doc://quick-start"]);
    const guide = await env.alice.client.readResource({ uri: "doc://quick-start" });
    expect((guide.contents[0] as { text: string }).text).toContain("join_channel");
  });

  test("resources: doc://bots is the bot API an agent writing a bot reads, the text of bots/README.md", async () => {
    const { resources } = await env.alice.client.listResources();
    expect(resources.find((r) => r.uri === "doc://bots")).toMatchObject({ name: "bots", mimeType: "text/markdown" });
    const read = await env.alice.client.readResource({ uri: "doc://bots" });
    expect(read.contents).toHaveLength(1);
    expect(read.contents[0]).toMatchObject({ uri: "doc://bots", mimeType: "text/markdown" });
    expect((read.contents[0] as { text: string }).text).toBe(readFileSync(resolve(import.meta.dir, "../../bots/README.md"), "utf8"));
  });
});
