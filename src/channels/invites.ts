import { AppError } from "../errors.ts";
import { sha256Hex } from "../lib/hash.ts";
import { newRejoinToken } from "../lib/ids.ts";
import type { SlotRecord } from "../store/index.ts";
import { channelClosed, commit, requireChannel, systemMessage, timestamp, type Caller, type ChannelsContext } from "./context.ts";
import { botView, type BotView } from "./bots.ts";
import type { JoinChannelInput } from "./schemas.ts";
import { buildView, type ChannelView } from "./views.ts";

export interface JoinChannelResult {
  channel_id: string;
  slot_id: string;
  /** Shown once; redeem it with join_channel to take this slot back from any new session. */
  rejoin_token: string;
  view: ChannelView;
  bots: BotView[];
}

/**
 * Redeems an `inv_…` code (seats the caller in a free slot) or a `rejoin_…` token (moves the slot
 * to the caller; the previous holder loses it). Every join rotates the rejoin token. The token
 * redeemed last stays good for its redeemer while it holds the slot: a client whose answer was lost
 * retries with what it has and gets a fresh token, and nobody else can use it to take the slot back.
 */
export async function joinChannel(ctx: ChannelsContext, caller: Caller, input: JoinChannelInput): Promise<JoinChannelResult> {
  const code = input.invite_code;
  const isRejoin = code.startsWith("rejoin_");
  const hash = sha256Hex(code);
  const slot = isRejoin ? await ctx.store.findSlotByRejoinHash(hash) : await ctx.store.findSlotByInviteHash(hash);
  if (!slot) throw new AppError("INVITE_INVALID", isRejoin ? "Unknown or superseded rejoin token" : "Unknown or withdrawn invite code");

  const retried = isRejoin && slot.rejoin_hash !== hash;
  if (retried && slot.holder !== caller.principal) throw new AppError("INVITE_INVALID", "Unknown or superseded rejoin token");

  const channel = await requireChannel(ctx, slot.channel_id);
  if (!isRejoin && channel.status === "closed") throw channelClosed(channel.id);
  if (!isRejoin && slot.holder !== null && slot.holder !== caller.principal) {
    throw new AppError("SLOT_ALREADY_FILLED", `Slot ${slot.slot_id} of "${channel.id}" is already taken; ask the admin for a new invite`);
  }
  const slots = await ctx.store.getSlots(channel.id);
  const other = slots.find((s) => s.holder === caller.principal && s.slot_id !== slot.slot_id);
  if (other) throw new AppError("INVALID_REQUEST", `You already hold slot ${other.slot_id} in "${channel.id}"; one slot per member`);

  const rejoin_token = newRejoinToken();
  const moved = isRejoin && slot.holder !== caller.principal;
  const fresh = !isRejoin && slot.holder === null;
  const event = fresh ? "slot:join" : moved ? "slot:rejoin" : null;
  // The creator's own seat is an admin seat, so admin rights follow the slot through rejoin tokens
  // (so a creator who continues as another identity, e.g. from another app, keeps administering).
  const admin = slot.admin || (fresh && channel.creator === caller.principal);
  await commit(
    ctx,
    channel.id,
    [
      { type: "require", open: !isRejoin, soleSeat: { slot_id: slot.slot_id, principal: caller.principal } },
      {
        type: "slot",
        slot_id: slot.slot_id,
        expectHolder: slot.holder,
        set: {
          holder: caller.principal,
          rejoin_hash: sha256Hex(rejoin_token),
          ...(isRejoin ? { prev_rejoin_hash: hash } : {}),
          admin,
          joined_at: slot.joined_at ?? timestamp(ctx),
          ...(moved ? { lost_by: slot.holder, lost_reason: "rejoin" as const } : {}),
        },
      },
    ],
    event ? [systemMessage(ctx, { type: event, slot_id: slot.slot_id, label: slot.label })] : [],
  );
  const seated: SlotRecord[] = slots.map((s) => (s.slot_id === slot.slot_id ? { ...s, holder: caller.principal, admin } : s));
  const bots = await ctx.store.getBots(channel.id);
  return { channel_id: channel.id, slot_id: slot.slot_id, rejoin_token, view: buildView(channel, seated, caller.principal, bots), bots: bots.map(botView) };
}
