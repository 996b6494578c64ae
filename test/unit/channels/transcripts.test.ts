import { describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { verifyTranscript, type Transcript } from "../../../src/transcript/index.ts";
import { signedChannels } from "../../helpers/signed-channels.ts";

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
});
