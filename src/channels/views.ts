import type { BotRecord, ChannelRecord, Message, SlotRecord } from "../store/index.ts";

/** What a member sees of a channel: slots and who is seated, never secrets or other principals. */
export interface ChannelView {
  channel_id: string;
  name: string;
  status: ChannelRecord["status"];
  created_at: string;
  /** The caller's slot id, or null if it holds none. */
  you: string | null;
  admin: boolean;
  /** `filled`: a player holds the seat, or (a bot seat) a bot sits in it. */
  slots: { slot_id: string; label: string; kind: SlotRecord["kind"]; filled: boolean; admin: boolean }[];
}

/** `bots`: the channel's bots, whose seats show as filled. */
export function buildView(channel: ChannelRecord, slots: SlotRecord[], principal: string, bots: readonly Pick<BotRecord, "slot_id">[]): ChannelView {
  const mine = slots.find((s) => s.holder === principal) ?? null;
  const seated = (slotId: string) => bots.some((b) => b.slot_id === slotId);
  return {
    channel_id: channel.id,
    name: channel.name,
    status: channel.status,
    created_at: channel.created_at,
    you: mine?.slot_id ?? null,
    admin: channel.creator === principal || mine?.admin === true,
    slots: slots.map((s) => ({ slot_id: s.slot_id, label: s.label, kind: s.kind, filled: s.holder !== null || (s.kind === "bot" && seated(s.slot_id)), admin: s.admin })),
  };
}

/**
 * Whether the occupant of `slot` may read `msg` while the channel is open: public messages, and the
 * private ones of its own occupancy (addressed to the seat or sent from it, positioned — a bot's
 * answer by the message it answers — after the occupancy began). The store's sync query applies the
 * same rule in SQL.
 */
export function isVisibleTo(msg: Pick<Message, "id" | "sender" | "to_slot" | "reply_to">, slot: SlotRecord | null): boolean {
  if (msg.to_slot === null) return true;
  if (!slot || (msg.to_slot !== slot.slot_id && msg.sender !== slot.slot_id)) return false;
  return (msg.reply_to ?? msg.id) > slot.tenure_start;
}
