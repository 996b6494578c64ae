import { AppError } from "../errors.ts";
import type { BotRecord, ChannelRecord, Message } from "../store/index.ts";
import { headerPayload, type Transcript, type TranscriptHeader, type TranscriptMessage } from "../transcript/index.ts";
import { loadMembership, type Caller, type ChannelsContext, type Membership } from "./context.ts";
import { answerBytes, DEFAULT_MAX_ANSWER_BYTES, readPage } from "./pages.ts";
import { isVisibleTo } from "./views.ts";

const FORMAT = "parley-transcript/1";
/** Messages per transcript page at most (the byte budget usually ends a page first). */
const PAGE_MESSAGES = 10_000;
/** A download reads rows by these: ~256 KB of stored JSON (and one row past it), or 500 rows. */
const EXPORT_CHUNK_BYTES = 256 * 1024;
const EXPORT_CHUNK_ROWS = 500;

/**
 * One answer of get_transcript. Messages with id > cursor, as many as max_answer_bytes allows;
 * the page that reaches the end of the channel (`more: false`) also carries the signed header
 * (channel, issuer, bots, head, signed_at, signature) for the chain from the channel's genesis
 * through its last message. So the messages of every page in order plus the last page's header
 * are a whole `parley-transcript/1`, which `parley verify` checks as before; a channel that fits
 * one page gets it in one answer.
 */
export type TranscriptPage =
  | (Transcript & { cursor: number; more: false })
  | { format: typeof FORMAT; channel_id: string; messages: TranscriptMessage[]; cursor: number; more: true };

/** The reader's view of a message: private messages it may not read (isVisibleTo) are redacted while the channel is open. */
function viewer(m: Membership): (msg: Message) => TranscriptMessage {
  const closed = m.channel.status === "closed";
  return (msg) => {
    const hidden = !closed && !isVisibleTo(msg, m.slot);
    return hidden ? { id: msg.id, redacted: true, to_slot: msg.to_slot!, hash: msg.hash } : msg;
  };
}

function header(ctx: ChannelsContext, channel: ChannelRecord, bots: BotRecord[], head: string): TranscriptHeader {
  const closed = channel.status === "closed";
  return {
    format: FORMAT,
    channel: { id: channel.id, name: channel.name, status: channel.status, created_at: channel.created_at },
    issuer: ctx.issuer!,
    // Seeds only once the channel is closed: until then they would let players predict the bot.
    bots: bots.map((b) => ({
      bot_id: b.bot_id,
      name: b.name,
      version: b.version,
      code: b.code,
      manifest: b.manifest,
      params: b.params,
      engine: b.engine,
      code_hash: b.code_hash,
      manifest_hash: b.manifest_hash,
      seed_commit: b.seed_commit,
      ...(closed ? { seed: b.seed } : {}),
    })),
    head,
    signed_at: new Date().toISOString(),
  };
}

async function openTranscript(ctx: ChannelsContext, caller: Caller, channelId: string) {
  if (!ctx.signer || !ctx.issuer) throw new AppError("INTERNAL_ERROR", "This server has no signing key");
  const m = await loadMembership(ctx, caller, channelId);
  const see = viewer(m);
  const read = async (after: number, limit: number, maxBytes: number) => {
    const { messages, cut } = await ctx.store.readMessages(channelId, { after, slotId: "*", limit, maxBytes });
    return { items: messages.map(see), cut };
  };
  return { m, read, budget: ctx.limits.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES };
}

/**
 * The signed transcript (src/transcript/README.md) as the caller may see it, one bounded page at a time (see
 * TranscriptPage): every message of the chain, with private messages the caller may not read
 * (other seats', or an earlier occupant's of its own seat) redacted to their id and hash while the
 * channel is open (after `close`, everything is revealed, bot seeds included, so anyone can verify
 * the whole game). The last page's header (the bots' code: at most MAX_CHANNEL_BOT_CODE_BYTES of
 * it) comes out of the page's budget, so that page is bounded too.
 */
export async function getTranscript(ctx: ChannelsContext, caller: Caller, input: { channel_id: string; cursor?: number }): Promise<TranscriptPage> {
  const cursor = input.cursor ?? 0;
  const { m, read, budget } = await openTranscript(ctx, caller, input.channel_id);
  const headerBytes = answerBytes(header(ctx, m.channel, await ctx.store.getBots(m.channel.id), ""));
  const { items: messages, more } = await readPage(read, cursor, PAGE_MESSAGES, Math.max(budget - headerBytes, budget / 4));
  if (more) return { format: FORMAT, channel_id: m.channel.id, messages, cursor: messages.at(-1)!.id, more };
  // The end of the chain, and the bots, read in the same event-loop turn as the last page (the
  // store answers synchronously): a bot attached meanwhile would be in one and not the other.
  const bots = await ctx.store.getBots(m.channel.id);
  let last: { id: number; hash: string } | undefined = messages.at(-1);
  if (!last) {
    // Nothing after the cursor: the header is for the chain up to the cursor itself.
    last = (await ctx.store.listMessages(m.channel.id, { after: cursor - 1, slotId: "*", limit: 1 }))[0];
    if (last?.id !== cursor) throw new AppError("INVALID_REQUEST", `cursor ${cursor} is not a message of "${m.channel.id}"; start from 0 or pass a cursor a page returned`);
  }
  const count = cursor === 0 ? messages.length : await ctx.store.countMessages(m.channel.id, last.id);
  const head = header(ctx, m.channel, bots, last.hash);
  const signature = await ctx.signer!(headerPayload(head, count, last.id));
  return { ...head, messages, signature, cursor: last.id, more: false };
}

/**
 * The whole signed transcript as JSON text, streamed from the store a chunk of rows at a time
 * (never whole in memory): the same document as the pages of get_transcript joined, keys in
 * another order (`messages` first, the header after them). It is the channel as it was when the
 * download began: its messages up to the newest then, shown as the caller could see them then,
 * with the bots and status of then (one event-loop turn reads all of these: the store answers
 * synchronously). Messages that come later are not the download's, so a caller who loses its seat
 * meanwhile never sees what its successor is sent.
 */
export async function exportTranscript(ctx: ChannelsContext, caller: Caller, channelId: string): Promise<AsyncGenerator<string>> {
  const { m, read } = await openTranscript(ctx, caller, channelId);
  const end = await ctx.store.lastMessage(channelId);
  const bots = await ctx.store.getBots(channelId);
  // Never empty: the channel:create message opens every log.
  const head = header(ctx, m.channel, bots, end!.hash);
  return (async function* () {
    yield `{"format":${JSON.stringify(FORMAT)},"messages":[`;
    let count = 0;
    for (let after = 0; after < end!.id; ) {
      const { items } = await read(after, EXPORT_CHUNK_ROWS, EXPORT_CHUNK_BYTES);
      const rows = items.filter((x) => x.id <= end!.id);
      if (rows.length === 0) break;
      yield (count > 0 ? "," : "") + rows.map((x) => JSON.stringify(x)).join(",");
      count += rows.length;
      after = rows.at(-1)!.id;
    }
    const signature = await ctx.signer!(headerPayload(head, count, end!.id));
    const { bots: described, format: _format, ...rest } = head;
    yield `],"bots":[`;
    for (const [i, bot] of described.entries()) yield (i > 0 ? "," : "") + JSON.stringify(bot);
    yield `],${JSON.stringify({ ...rest, signature }).slice(1)}`;
  })();
}
