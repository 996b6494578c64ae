import { describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { verifyTranscript, type Transcript } from "../../../src/transcript/index.ts";
import { signedChannels } from "../../helpers/signed-channels.ts";
import { answerBytes } from "../../../src/channels/pages.ts";

/** A channel of 3 KB messages (two seats, one private message) on a real SQLite file, with a small answer budget. */
async function channelOfPages(posts = 40) {
  const env = await signedChannels({ maxMessageBytes: 1 << 20, maxAnswerBytes: 32 * 1024 });
  const { ctx, store } = env;
  const alice = { principal: "alice" };
  const bob = { principal: "bob" };
  const created = await channels.createChannel(ctx, alice, { name: "long", slots: ["invite:a", "invite:b"] });
  await channels.joinChannel(ctx, alice, { invite_code: created.invites[0]! });
  await channels.joinChannel(ctx, bob, { invite_code: created.invites[1]! });
  for (let i = 0; i < posts; i++) await channels.postMessage(ctx, i % 2 ? bob : alice, { channel_id: created.channel_id, body: `${i} ${"y".repeat(3_000)}` });
  await store.apply(created.channel_id, [], [{ sender: "system", kind: "system", body: { secret: "for s1" }, ts: new Date().toISOString(), to_slot: "s1" }], channels.sealMessage);
  return { ...env, alice, bob, id: created.channel_id };
}

type Env = Awaited<ReturnType<typeof channelOfPages>>;

/** Every page from `cursor` on, then the whole transcript as a verifier gets it: the pages' messages and the last page's header. */
async function pagesFrom(env: Env, who: { principal: string }, cursor = 0) {
  const pages: channels.TranscriptPage[] = [];
  for (;;) {
    const page = await channels.getTranscript(env.ctx, who, { channel_id: env.id, cursor });
    pages.push(page);
    if (!page.more) break;
    cursor = page.cursor;
  }
  const { cursor: _c, more: _m, ...header } = pages.at(-1) as Extract<channels.TranscriptPage, { more: false }>;
  return { pages, whole: { ...header, messages: pages.flatMap((p) => p.messages) } as Transcript };
}

describe("getTranscript() pages", () => {
  test("each page stays within max_answer_bytes; only the last carries the signed header; the pages joined verify", async () => {
    using env = await channelOfPages();
    const { pages, whole } = await pagesFrom(env, env.alice);
    expect(pages.length).toBeGreaterThan(3);
    for (const p of pages.slice(0, -1)) {
      expect(p.more).toBe(true);
      expect("signature" in p).toBe(false);
      expect(JSON.stringify(p).length * 2).toBeLessThan(32 * 1024 + 8 * 1024);
    }
    expect(whole.messages).toHaveLength(44);
    expect(whole.messages.filter((m) => "redacted" in m)).toHaveLength(1);
    const report = await verifyTranscript(JSON.parse(JSON.stringify(whole)));
    expect(report.failure).toBeUndefined();
    expect(report.checks[0]).toContain("hash chain: 44 messages");
  });

  test("the last page's signature covers the whole chain even when the page starts mid-way (message_count from the store)", async () => {
    using env = await channelOfPages();
    const { pages } = await pagesFrom(env, env.bob);
    const last = pages.at(-1)!;
    // Asked again from the cursor before the last page: the same header, for all 44 messages.
    const again = await channels.getTranscript(env.ctx, env.bob, { channel_id: env.id, cursor: pages.at(-2)!.cursor });
    expect(again.more).toBe(false);
    const { cursor: _c, more: _m, ...header } = again as Extract<channels.TranscriptPage, { more: false }>;
    const whole = { ...header, messages: [...pages.slice(0, -1).flatMap((p) => p.messages), ...again.messages] };
    expect((await verifyTranscript(whole)).ok).toBe(true);
    expect(again.messages).toEqual(last.messages);
  });

  test("from the last message's id: no messages, and the header for the chain up to it; from an id of no message here: INVALID_REQUEST", async () => {
    using env = await channelOfPages(4);
    const { whole } = await pagesFrom(env, env.alice);
    const lastId = whole.messages.at(-1)!.id;
    const empty = await channels.getTranscript(env.ctx, env.alice, { channel_id: env.id, cursor: lastId });
    expect(empty.messages).toEqual([]);
    expect(empty.more).toBe(false);
    const { cursor: _c, more: _m, ...header } = empty as Extract<channels.TranscriptPage, { more: false }>;
    expect((await verifyTranscript({ ...header, messages: whole.messages })).ok).toBe(true);
    await expect(channels.getTranscript(env.ctx, env.alice, { channel_id: env.id, cursor: lastId + 1_000 })).rejects.toThrow(/INVALID_REQUEST|is not a message/);
  });

  test("exportTranscript() streams the same transcript as one JSON document, which verifies", async () => {
    using env = await channelOfPages();
    const chunks = await Array.fromAsync(await channels.exportTranscript(env.ctx, env.bob, env.id));
    expect(chunks.length).toBeGreaterThan(3);
    const exported = JSON.parse(chunks.join(""));
    const { whole } = await pagesFrom(env, env.bob);
    expect(exported.messages).toEqual(whole.messages);
    expect(exported.head).toBe(whole.head);
    const report = await verifyTranscript(exported);
    expect(report.failure).toBeUndefined();
    await expect(channels.exportTranscript(env.ctx, { principal: "mallory" }, env.id)).rejects.toThrow(/slot/);
  });

  test("a page whose channel holds big private messages the reader cannot see does not end early: the cursor reaches the last message", async () => {
    using env = await signedChannels({ maxMessageBytes: 1 << 20, maxAnswerBytes: 64 * 1024 });
    const [alice, bob] = [{ principal: "alice" }, { principal: "bob" }];
    const created = await channels.createChannel(env.ctx, alice, { name: "dm", slots: ["invite:a", "invite:b"] });
    await channels.joinChannel(env.ctx, alice, { invite_code: created.invites[0]! });
    await channels.joinChannel(env.ctx, bob, { invite_code: created.invites[1]! });
    // 40 KB to s1 (alice sees a stub of it), then five public posts.
    await env.store.apply(created.channel_id, [], [{ sender: "system", kind: "system", body: { secret: "x".repeat(40_000) }, ts: new Date().toISOString(), to_slot: "s1" }], channels.sealMessage);
    for (let i = 0; i < 5; i++) await channels.postMessage(env.ctx, alice, { channel_id: created.channel_id, body: `after ${i}` });
    const last = (await env.store.lastMessage(created.channel_id))!;
    const { pages, whole } = await pagesFrom({ ...env, alice, bob, id: created.channel_id }, alice);
    expect(pages.at(-1)!.cursor).toBe(last.id);
    expect(whole.messages).toHaveLength(9);
    expect((await verifyTranscript(JSON.parse(JSON.stringify(whole)))).failure).toBeUndefined();
  });

  test("the last page's header (the bots' code) counts in its budget", async () => {
    using env = await channelOfPages(140); // ~0.9 MB of answer: one page, without the header
    env.ctx.limits.maxAnswerBytes = 1 << 20;
    const bot = (n: number) => ({
      bot_id: `bot_big_${n}`, channel_id: env.id, slot_id: null, name: "Big", version: "1", code: `// ${"c".repeat(120_000)}\nexport default {}`,
      manifest: {}, params: {}, code_hash: "sha256:x", manifest_hash: "sha256:y", seed: "00", seed_commit: "sha256:z", engine: "quickjs-test", state: "null", last_seen: 0, created_at: new Date().toISOString(),
    });
    await env.store.apply(env.id, [{ type: "bot", insert: bot(1) }, { type: "bot", insert: bot(2) }], [], channels.sealMessage);
    const { pages } = await pagesFrom(env, env.alice);
    for (const p of pages) expect(answerBytes(p)).toBeLessThanOrEqual(1 << 20);
    expect(pages.at(-1)!.more).toBe(false);
  });

  test("a download is the channel as it was when it began: what a seat's next occupant is sent meanwhile is not in it", async () => {
    using env = await channelOfPages(100);
    const chunks = await channels.exportTranscript(env.ctx, env.bob, env.id);
    let text = (await chunks.next()).value + (await chunks.next()).value; // the start and a first chunk
    // Bob is kicked, his seat goes to carol, and the bot tells her a secret.
    const admin = env.alice;
    const upd = await channels.updateChannel(env.ctx, admin, { channel_id: env.id, ops: [{ type: "kick", slot_id: "s1" }, { type: "reissue_invite", slot_id: "s1" }] });
    await channels.joinChannel(env.ctx, { principal: "carol" }, { invite_code: upd.invites.s1! });
    await env.store.apply(env.id, [], [{ sender: "system", kind: "system", body: { secret: "CAROL-SECRET" }, ts: new Date().toISOString(), to_slot: "s1" }], channels.sealMessage);
    for (let c = await chunks.next(); !c.done; c = await chunks.next()) text += c.value;
    expect(text).not.toContain("CAROL-SECRET");
    const transcript = JSON.parse(text);
    expect(transcript.messages).toHaveLength(104);
    expect((await verifyTranscript(transcript)).failure).toBeUndefined();
  });
});
