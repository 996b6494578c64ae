import { AppError } from "../errors.ts";
import { sha256Hex } from "../lib/hash.ts";
import { log } from "../lib/log.ts";
import { StoreConflict, type ChannelRecord, type Message, type MessageDraft, type Sealer, type SlotRecord, type Store } from "../store/index.ts";
import { chainInput, genesisInput, type TranscriptSigner } from "../transcript/index.ts";
import type { BotsRuntime } from "./bots.ts";
import type { Notifier } from "./notifier.ts";

/** Who is calling: the verified token subject (see mcp/identity.ts; the MCP session id only in --no-auth mode). */
export interface Caller {
  principal: string;
}

/**
 * The operator (`parley channels close|export` on the data directory): administers every channel
 * without a seat. Compared by identity: callers are built per request from a token's subject, so
 * only code handed this object acts as the operator.
 */
export const OPERATOR: Caller = Object.freeze({ principal: "operator" });

export interface ChannelsContext {
  store: Store;
  notifier: Notifier;
  /** maxAnswerBytes: most characters of messages one answer carries (config max_answer_bytes; default 1 MiB). */
  limits: { maxMessageBytes: number; maxAnswerBytes?: number };
  /** Signs transcripts with the server's key; absent in --no-auth test servers without a key. */
  signer?: TranscriptSigner;
  /** The server's public URL, named in transcripts as their issuer. */
  issuer?: string;
  /** The bot sandbox and presets; absent = this server runs no bots. */
  bots?: BotsRuntime;
  /** Injected for tests; the message `ts`. */
  now?: () => Date;
}

/** hash = SHA-256 over the previous hash and the message's RFC 8785 canonical JSON (src/transcript/README.md). */
export const sealMessage: Sealer = (prevHash, message) => sha256Hex(chainInput(prevHash, message));

/** Chain start for a channel, so two channels never share a chain prefix. */
export const genesisHash = (channelId: string) => sha256Hex(genesisInput(channelId));

export function timestamp(ctx: ChannelsContext): string {
  return (ctx.now?.() ?? new Date()).toISOString();
}

export function systemMessage(ctx: ChannelsContext, body: Record<string, unknown>): MessageDraft {
  return { sender: "system", kind: "system", body, ts: timestamp(ctx), to_slot: null };
}

export async function requireChannel(ctx: ChannelsContext, channelId: string): Promise<ChannelRecord> {
  const channel = await ctx.store.getChannel(channelId);
  if (!channel) throw new AppError("CHANNEL_NOT_FOUND", `No channel "${channelId}"`);
  return channel;
}

/** NOT_MEMBER, saying why when the caller held a slot here and lost it. */
function notMember(channelId: string, slots: SlotRecord[], caller: Caller): AppError {
  const lost = slots.find((s) => s.lost_by === caller.principal);
  if (lost?.lost_reason === "rejoin") {
    return new AppError("NOT_MEMBER", `Your slot ${lost.slot_id} in "${channelId}" was taken over with its rejoin token (by another identity); you no longer hold it`);
  }
  if (lost?.lost_reason === "kick") return new AppError("NOT_MEMBER", `You were removed from slot ${lost.slot_id} of "${channelId}" by an admin`);
  return new AppError("NOT_MEMBER", `You hold no slot in channel "${channelId}"; redeem an invite with join_channel`);
}

export interface Membership {
  channel: ChannelRecord;
  slots: SlotRecord[];
  /** The caller's slot, if it holds one. */
  slot: SlotRecord | null;
  isAdmin: boolean;
}

/** Loads a channel as seen by the caller; throws NOT_MEMBER unless it holds a slot or administers the channel. */
export async function loadMembership(ctx: ChannelsContext, caller: Caller, channelId: string): Promise<Membership> {
  const channel = await requireChannel(ctx, channelId);
  const slots = await ctx.store.getSlots(channelId);
  if (caller === OPERATOR) return { channel, slots, slot: null, isAdmin: true };
  const slot = slots.find((s) => s.holder === caller.principal) ?? null;
  const isAdmin = channel.creator === caller.principal || slot?.admin === true;
  if (!slot && !isAdmin) throw notMember(channelId, slots, caller);
  return { channel, slots, slot, isAdmin };
}

/**
 * Applies changes and appends messages atomically, then wakes the channel's waiters. A requirement
 * that no longer holds at commit time (a race lost to another call) becomes the error the caller
 * would have got had it arrived a moment later.
 */
export async function commit(
  ctx: ChannelsContext,
  channelId: string,
  changes: Parameters<Store["apply"]>[1],
  messages: MessageDraft[],
  options: { fromBots?: boolean } = {},
): Promise<Message[]> {
  let written: Message[];
  try {
    written = await ctx.store.apply(channelId, changes, messages, sealMessage);
  } catch (err) {
    if (err instanceof StoreConflict) throw conflictError(channelId, err);
    throw err;
  }
  if (written.length) {
    ctx.notifier.notify(channelId);
    // Bots answer after the commit, off the caller's path; their catch-up is ordered per channel.
    if (ctx.bots && !options.fromBots) void ctx.bots.runBots(ctx, channelId).catch((err) => log.error("bots failed", { channel: channelId, err }));
  }
  return written;
}

/** The one CHANNEL_CLOSED: what every change to a closed channel answers. */
export function channelClosed(channelId: string): AppError {
  return new AppError("CHANNEL_CLOSED", `Channel "${channelId}" is closed`);
}

function conflictError(channelId: string, err: StoreConflict): AppError {
  switch (err.reason) {
    case "channel_closed":
      return channelClosed(channelId);
    case "not_holder":
      return new AppError("NOT_MEMBER", `You no longer hold slot ${err.slotId} in "${channelId}"`);
    case "already_seated":
      return new AppError("INVALID_REQUEST", `You already hold a slot in "${channelId}"; one slot per member`);
    case "slot_changed":
      return new AppError("SLOT_ALREADY_FILLED", `Slot ${err.slotId} of "${channelId}" was taken a moment ago`);
  }
}
