import { AppError } from "../errors.ts";
import type { Message } from "../store/index.ts";
import { channelClosed, commit, loadMembership, timestamp, type Caller, type ChannelsContext } from "./context.ts";
import { DEFAULT_MAX_ANSWER_BYTES, readPage } from "./pages.ts";
import type { PostMessageInput, SyncMessagesInput } from "./schemas.ts";
import { buildView, type ChannelView } from "./views.ts";

/**
 * The stored message's id, under the name messages carry (`id`), and again as `msg_id`, the name
 * this answer had first: prompts written for it keep working.
 */
export interface PostResult {
  id: number;
  ts: string;
  /** The same number as `id`. */
  msg_id: number;
}

/** Posts a public user message; returns once it is durably stored (WAL commit). */
export async function postMessage(ctx: ChannelsContext, caller: Caller, input: PostMessageInput): Promise<PostResult> {
  const bytes = Buffer.byteLength(input.body, "utf8");
  if (bytes > ctx.limits.maxMessageBytes) {
    throw new AppError("INVALID_REQUEST", `Message body is ${bytes} bytes; the limit is ${ctx.limits.maxMessageBytes}`);
  }
  const m = await loadMembership(ctx, caller, input.channel_id);
  if (!m.slot) throw new AppError("NOT_MEMBER", `You administer "${input.channel_id}" but hold no slot; redeem an invite to post`);
  if (m.channel.status === "closed") throw channelClosed(input.channel_id);
  const [msg] = await commit(ctx, input.channel_id, [{ type: "require", open: true, holder: { slot_id: m.slot.slot_id, principal: caller.principal } }], [
    { sender: m.slot.slot_id, kind: "user", body: { text: input.body }, ts: timestamp(ctx), to_slot: null },
  ]);
  return { id: msg!.id, ts: msg!.ts, msg_id: msg!.id };
}

export interface SyncResult {
  messages: Message[];
  /** Pass this back as `cursor` next time. */
  cursor: number;
  /** More messages are waiting after this page: call again with the cursor, at once. */
  more: boolean;
  view: ChannelView;
}

/**
 * Returns visible messages with id > cursor (public ones, and the private ones of the caller's
 * occupancy of its seat: see isVisibleTo), at once if any exist; otherwise waits up to timeout_ms
 * for news. A page holds at most `limit` messages and at most max_answer_bytes of answer (always
 * one message at least, so the cursor moves).
 */
export async function syncMessages(ctx: ChannelsContext, caller: Caller, input: SyncMessagesInput, signal?: AbortSignal): Promise<SyncResult> {
  const deadline = Date.now() + input.timeout_ms;
  for (;;) {
    const seen = ctx.notifier.version(input.channel_id);
    const m = await loadMembership(ctx, caller, input.channel_id);
    const slotId = m.slot?.slot_id ?? null;
    const tenureStart = m.slot?.tenure_start;
    const read = async (after: number, limit: number, maxBytes: number) => {
      const { messages, cut } = await ctx.store.readMessages(input.channel_id, { after, slotId, tenureStart, limit, maxBytes });
      return { items: messages, cut };
    };
    const { items: messages, more } = await readPage(read, input.cursor, input.limit, ctx.limits.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES);
    const remaining = deadline - Date.now();
    if (messages.length > 0 || remaining <= 0 || signal?.aborted) {
      const view = buildView(m.channel, m.slots, caller.principal, await ctx.store.getBots(input.channel_id));
      return { messages, cursor: messages.at(-1)?.id ?? input.cursor, more, view };
    }
    await ctx.notifier.wait(input.channel_id, seen, remaining, signal);
  }
}
