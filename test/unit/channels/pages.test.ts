import { describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { answerBytes, readPage } from "../../../src/channels/pages.ts";
import { SqliteStore, type Message } from "../../../src/store/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

/** A channel on a real SQLite file with the given bodies posted by alice, who holds s0. */
async function channelWith(bodies: string[], maxAnswerBytes = 64 * 1024) {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  const ctx: channels.ChannelsContext = { store, notifier: new channels.Notifier(), limits: { maxMessageBytes: 1 << 20, maxAnswerBytes } };
  const alice = { principal: "alice" };
  const created = await channels.createChannel(ctx, alice, { name: "pages", slots: ["invite:a"] });
  await channels.joinChannel(ctx, alice, { invite_code: created.invites[0]! });
  for (const body of bodies) await channels.postMessage(ctx, alice, { channel_id: created.channel_id, body });
  let rowsRead = 0;
  const read = async (after: number, limit: number, maxBytes: number) => {
    const { messages, cut } = await store.readMessages(created.channel_id, { after, slotId: "s0", limit, maxBytes });
    rowsRead += messages.length;
    return { items: messages, cut };
  };
  return {
    ctx,
    alice,
    id: created.channel_id,
    read,
    rowsRead: () => rowsRead,
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

/** Every page from 0 on, following the cursor. */
async function allPages(read: (after: number, limit: number, maxBytes: number) => Promise<{ items: Message[]; cut: boolean }>, limit: number, budget: number) {
  const pages: { items: Message[]; more: boolean }[] = [];
  for (let cursor = 0; ; ) {
    const page = await readPage(read, cursor, limit, budget);
    pages.push(page);
    if (!page.more) return pages;
    cursor = page.items.at(-1)!.id;
  }
}

const cost = (items: Message[]) => items.reduce((n, m) => n + answerBytes(m), 0);

describe("answerBytes()", () => {
  test("is exactly what a message adds to a tool answer (its JSON, and that JSON as a string), for any text", () => {
    const byDefinition = (m: object) => JSON.stringify(m).length + JSON.stringify(JSON.stringify(m)).length;
    const alphabet = ['"', "\\", "\n", "\t", "\u0001", "\u001f", "a", "é", "日", "\ud83d\ude00", "\ud83d", "\ude00", " ", "\b", "\f", "\r", "/"];
    for (let i = 0; i < 300; i++) {
      let text = "";
      for (let n = Math.floor(Math.random() * 40); n > 0; n--) text += alphabet[Math.floor(Math.random() * alphabet.length)];
      const m = { id: 7, channel_id: "chn_abcdefghij", sender: "s0", kind: "user", body: { text }, ts: "2026-01-01T00:00:00.000Z", to_slot: null, hash: "a".repeat(64) };
      expect(answerBytes(m)).toBe(byDefinition(m));
      const bot = { ...m, kind: "bot", sender: "bot:bot_x", body: { say: text, n: 1 }, reply_to: 3 };
      expect(answerBytes(bot)).toBe(byDefinition(bot));
    }
  });
});

describe("readPage()", () => {
  test("stops at limit and says more; following the cursor reads every message once, the last page saying no more", async () => {
    using c = await channelWith(Array.from({ length: 25 }, (_, i) => `message ${i}`));
    const pages = await allPages(c.read, 10, 1 << 20);
    expect(pages.map((p) => p.items.length)).toEqual([10, 10, 7]); // + channel:create and slot:join
    expect(pages.map((p) => p.more)).toEqual([true, true, false]);
    const ids = pages.flatMap((p) => p.items.map((m) => m.id));
    expect(new Set(ids).size).toBe(27);
  });

  test("stops before the message that would pass the byte budget, and always takes one", async () => {
    const sizes = [3_000, 3_000, 40_000, 200, 200, 90_000, 100];
    using c = await channelWith(sizes.map((n) => "\u0001".repeat(n)), 64 * 1024);
    const pages = await allPages(c.read, 100, 64 * 1024);
    for (const p of pages) if (p.items.length > 1) expect(cost(p.items)).toBeLessThanOrEqual(64 * 1024);
    const texts = pages.map((p) => p.items.map((m) => String(m.body.text ?? m.body.type).length));
    // 40,000 characters of U+0001 cost ~520 KB of answer alone: a page of its own, as is the 90,000.
    expect(texts.some((t) => t.length === 1 && t[0] === 40_000)).toBe(true);
    expect(texts.some((t) => t.length === 1 && t[0] === 90_000)).toBe(true);
    expect(pages.flatMap((p) => p.items)).toHaveLength(9);
    expect(pages.at(-1)!.more).toBe(false);
    expect(pages.slice(0, -1).every((p) => p.more)).toBe(true);
  });

  test("a last message larger than the whole budget comes alone, and the page still knows it is the last", async () => {
    using c = await channelWith(["small", "\u0001".repeat(100_000)], 64 * 1024);
    const pages = await allPages(c.read, 100, 64 * 1024);
    expect(pages.at(-1)!.items.map((m) => String(m.body.text).length)).toEqual([100_000]);
    expect(pages.at(-1)!.more).toBe(false);
  });

  test("rows that cannot fit are never read: a page of huge messages reads two rows of a hundred", async () => {
    using c = await channelWith(Array.from({ length: 100 }, () => "\u0001".repeat(64 * 1024)), 1 << 20);
    const page = await readPage(c.read, 2, 100, 1 << 20);
    expect(page.items).toHaveLength(1);
    expect(page.more).toBe(true);
    expect(c.rowsRead()).toBeLessThanOrEqual(2);
  });
});

describe("syncMessages() pages", () => {
  test("limit 1000 of small messages comes in one answer; of big ones, within max_answer_bytes with more: true", async () => {
    using small = await channelWith(Array.from({ length: 300 }, (_, i) => `hello ${i}`), 1 << 20);
    const all = await channels.syncMessages(small.ctx, small.alice, { channel_id: small.id, cursor: 0, timeout_ms: 0, limit: 1000 });
    expect(all.messages).toHaveLength(302);
    expect(all.more).toBe(false);
    const page = await channels.syncMessages(small.ctx, small.alice, { channel_id: small.id, cursor: 0, timeout_ms: 0, limit: 100 });
    expect(page.more).toBe(true);
    expect(page.cursor).toBe(page.messages.at(-1)!.id);

    using big = await channelWith(Array.from({ length: 20 }, () => "x".repeat(10_000)), 64 * 1024);
    const bounded = await channels.syncMessages(big.ctx, big.alice, { channel_id: big.id, cursor: 0, timeout_ms: 0, limit: 1000 });
    expect(bounded.more).toBe(true);
    expect(cost(bounded.messages)).toBeLessThanOrEqual(64 * 1024);
    expect(bounded.cursor).toBe(bounded.messages.at(-1)!.id);
  });
});
