/**
 * The store contract. One SQLite implementation today (sqlite-store.ts); a PostgreSQL one follows,
 * so everything here is async and nothing SQLite-specific leaks into src/channels.
 */
export type MessageKind = "user" | "bot" | "system" | "control";
export type ChannelStatus = "open" | "closed";
export type SlotKind = "invite" | "bot";

export interface ChannelRecord {
  id: string;
  name: string;
  creator: string;
  status: ChannelStatus;
  created_at: string;
}

export interface SlotRecord {
  channel_id: string;
  slot_id: string;
  label: string;
  kind: SlotKind;
  /** sha256 hex of the current invite code; null when none is outstanding. */
  invite_hash: string | null;
  /** The principal holding the slot, or null while it is free. */
  holder: string | null;
  /** sha256 hex of the holder's current rejoin token. */
  rejoin_hash: string | null;
  /** sha256 hex of the rejoin token redeemed for the current one (a lost answer can be retried). */
  prev_rejoin_hash?: string | null;
  admin: boolean;
  joined_at: string | null;
  /** Who last lost this slot, and how: moved away with a rejoin token, or kicked. */
  lost_by?: string | null;
  lost_reason?: "rejoin" | "kick" | null;
  /**
   * Where the current occupancy began (the last message id before the seat's latest kick; 0 if
   * never kicked): the seat's private messages positioned at or before it are an earlier occupant's.
   */
  tenure_start: number;
}

export interface Message {
  id: number;
  channel_id: string;
  sender: string;
  kind: MessageKind;
  body: Record<string, unknown>;
  ts: string;
  to_slot: string | null;
  /** For bot output: the message whose hook produced it. Absent (not null) otherwise, so it is not hashed. */
  reply_to?: number;
  hash: string;
}

export type MessageDraft = Omit<Message, "id" | "channel_id" | "hash">;

export interface BotRecord {
  bot_id: string;
  channel_id: string;
  slot_id: string | null;
  name: string;
  version: string;
  code: string;
  manifest: Record<string, unknown>;
  params: Record<string, unknown>;
  code_hash: string;
  manifest_hash: string;
  /** Secret until the channel closes. */
  seed: string;
  seed_commit: string;
  engine: string;
  /** The bot's state as JSON text, stored and handed back as the sandbox made it (never parsed here). */
  state: string;
  /** The last message id this bot's hooks have processed. */
  last_seen: number;
  created_at: string;
}

/** Computes a message's chain hash from the previous head (src/transcript/chain.ts); runs inside the write transaction. */
export type Sealer = (prevHash: string, message: Omit<Message, "hash">) => string;

export type SlotPatch = Partial<Pick<SlotRecord, "invite_hash" | "holder" | "rejoin_hash" | "prev_rejoin_hash" | "admin" | "joined_at" | "lost_by" | "lost_reason">>;

/** A change applied atomically with the messages that record it. */
export type Change =
  | {
      type: "slot";
      slot_id: string;
      set: SlotPatch;
      /** Optimistic check: the update applies only if the slot's holder is still this value. */
      expectHolder?: string | null;
      /** A new occupancy begins (kick): the seat's earlier private messages stop being visible to it. */
      newTenure?: boolean;
    }
  | { type: "channel"; set: Partial<Pick<ChannelRecord, "name" | "status">> }
  | { type: "bot"; insert: BotRecord }
  | { type: "bot_state"; bot_id: string; state: string; last_seen: number }
  /**
   * Conditions checked inside the write transaction, so they hold at commit time even when other
   * calls interleave (an async store can run other requests between a read and its write).
   */
  | {
      type: "require";
      /** The channel is still open. */
      open?: boolean;
      /** This principal still holds this slot. */
      holder?: { slot_id: string; principal: string };
      /** This principal holds no slot of the channel other than slot_id. */
      soleSeat?: { slot_id: string; principal: string };
    };

export interface NewChannel {
  channel: ChannelRecord;
  /** A new seat's occupancy starts at the beginning (tenure_start 0). */
  slots: Omit<SlotRecord, "channel_id" | "tenure_start">[];
  genesisHash: string;
}

export interface MessageQuery {
  after: number;
  /** Private messages to or from this slot are included; null = public messages only; "*" = every message. */
  slotId: string | null;
  /** With a slotId: only the private messages of the seat's occupancy that began here (SlotRecord.tenure_start). */
  tenureStart?: number;
  limit: number;
  /**
   * Stop once the rows' stored bodies (JSON) pass this many bytes: the row that passes it is the
   * last one returned, so one row always comes. The caller cannot tell that stop from the end of
   * the channel but by the bodies' sizes (see channels/pages.ts).
   */
  maxBytes?: number;
}

export interface MessageRead {
  messages: Message[];
  /** The read stopped at its byte budget; rows after the last one may exist. */
  cut: boolean;
}

export interface Store {
  createChannel(input: NewChannel, messages: MessageDraft[], seal: Sealer): Promise<Message[]>;
  /**
   * Deletes a channel and everything of it. Only for a channel nobody has seen: create_channel
   * discards the one it made when its bot's onInit failed, before the id left the server.
   */
  discardChannel(id: string): Promise<void>;
  getChannel(id: string): Promise<ChannelRecord | null>;
  getSlots(channelId: string): Promise<SlotRecord[]>;
  findSlotByInviteHash(hash: string): Promise<SlotRecord | null>;
  /** The slot whose current or previous rejoin token has this hash. */
  findSlotByRejoinHash(hash: string): Promise<SlotRecord | null>;
  /** Applies every change and appends every message in one transaction; throws StoreConflict if an expectation fails. */
  apply(channelId: string, changes: Change[], messages: MessageDraft[], seal: Sealer): Promise<Message[]>;
  listMessages(channelId: string, query: MessageQuery): Promise<Message[]>;
  /** listMessages, saying whether it stopped at `maxBytes` before `limit` (more rows may follow). */
  readMessages(channelId: string, query: MessageQuery): Promise<MessageRead>;
  /** The channel's newest message (null for none). */
  lastMessage(channelId: string): Promise<{ id: number; hash: string } | null>;
  /** How many messages of the channel have an id up to `lastId` (a transcript page's signature names it). */
  countMessages(channelId: string, lastId: number): Promise<number>;
  getBots(channelId: string): Promise<BotRecord[]>;
  /** Open channels that have bots (their hooks catch up at start-up). */
  openBotChannels(): Promise<string[]>;
  /** Channels the principal created or holds a slot in, newest first. */
  listChannelsOf(principal: string): Promise<ChannelRecord[]>;
  close(): void;
}

export type ConflictReason = "slot_changed" | "channel_closed" | "not_holder" | "already_seated";

/** Thrown by Store.apply when an expectation or requirement no longer holds (someone else won the race). */
export class StoreConflict extends Error {
  constructor(
    readonly reason: ConflictReason,
    readonly slotId?: string,
  ) {
    super(`Store conflict: ${reason}${slotId ? ` (slot ${slotId})` : ""}`);
    this.name = "StoreConflict";
  }
}
