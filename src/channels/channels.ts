import { AppError } from "../errors.ts";
import { sha256Hex } from "../lib/hash.ts";
import { newChannelId, newInviteCode } from "../lib/ids.ts";
import { log, shortId } from "../lib/log.ts";
import type { Change, SlotRecord } from "../store/index.ts";
import {
  channelClosed,
  commit,
  genesisHash,
  loadMembership,
  sealMessage,
  systemMessage,
  timestamp,
  type Caller,
  type ChannelsContext,
} from "./context.ts";
import { attachBotTo, botView, loadBot, type Attached, type BotView, type LoadedBot } from "./bots.ts";
import type { ChannelRefInput, CreateChannelInput, UpdateChannelInput, UpdateOp } from "./schemas.ts";
import { buildView, type ChannelView } from "./views.ts";

export interface CreateChannelResult {
  channel_id: string;
  /** One invite code per invite slot, in slot order. Shown once; only hashes are stored. */
  invites: string[];
  view: ChannelView;
  bots: BotView[];
}

/**
 * Opens a channel; the caller becomes its admin (to post, it redeems an invite like anyone). With a
 * bot, all or nothing: a bot that does not load, or whose onInit fails, leaves no channel behind
 * (BOT_ERROR), so the caller fixes the code or params and calls again.
 */
export async function createChannel(ctx: ChannelsContext, caller: Caller, input: CreateChannelInput): Promise<CreateChannelResult> {
  const wantsBot = input.bot_code !== undefined || input.bot_preset !== undefined;
  if (wantsBot && !ctx.bots) throw new AppError("BOT_NOT_FOUND", "This server runs no bots");
  if (input.bot_code !== undefined && input.bot_preset !== undefined) throw new AppError("INVALID_REQUEST", "Give bot_code or bot_preset, not both");
  if (input.bot_params !== undefined && !wantsBot) throw new AppError("INVALID_REQUEST", "bot_params without bot_preset or bot_code: there is no bot to pass them to");
  const botSeat = input.slots.findIndex((spec) => spec.startsWith("bot:"));
  if (wantsBot && botSeat < 0) throw new AppError("INVALID_REQUEST", 'A bot needs a seat: add a "bot:LABEL" slot (e.g. slots: [..., "bot:ref"])');
  // Load the bot first: a bot that does not load must not leave a half-made channel behind.
  const loaded = wantsBot ? await loadBot(ctx, input) : null;
  const id = newChannelId();
  const created_at = timestamp(ctx);
  const invites: string[] = [];
  const slots: Omit<SlotRecord, "channel_id" | "tenure_start">[] = input.slots.map((spec, i) => {
    const [kind, label] = spec.split(":", 2) as ["invite" | "bot", string];
    let invite_hash: string | null = null;
    if (kind === "invite") {
      const code = newInviteCode();
      invites.push(code);
      invite_hash = sha256Hex(code);
    }
    return { slot_id: `s${i}`, label, kind, invite_hash, holder: null, rejoin_hash: null, admin: false, joined_at: null };
  });
  const channel = { id, name: input.name, creator: caller.principal, status: "open" as const, created_at };
  await ctx.store.createChannel(
    { channel, slots, genesisHash: genesisHash(id) },
    [systemMessage(ctx, { type: "channel:create", name: input.name, slots: slots.map((s) => ({ slot_id: s.slot_id, label: s.label, kind: s.kind })) })],
    sealMessage,
  );
  // The bot is attached (and announced with its code hash and seed commitment) before the invites
  // leave this call, so no player can join a channel whose referee is not yet fixed.
  const bots = loaded ? [await attachOrDiscard(ctx, id, loaded, `s${botSeat}`)] : [];
  log.info("channel created", { channel: id, caller: shortId(caller.principal), slots: slots.length, bot: input.bot_preset ?? (input.bot_code !== undefined ? "inline" : undefined) });
  const stored = await ctx.store.getSlots(id);
  return { channel_id: id, invites, view: buildView(channel, stored, caller.principal, bots), bots };
}

/**
 * Attaches create_channel's bot; if its onInit fails (or the attach does), the channel is discarded
 * whole. Nobody has its id yet, so nothing anyone saw is taken back, and no channel with a broken
 * referee is left for the caller to find and close.
 */
async function attachOrDiscard(ctx: ChannelsContext, channelId: string, loaded: LoadedBot, slotId: string): Promise<BotView> {
  let attached: Attached;
  try {
    attached = await attachBotTo(ctx, channelId, loaded, slotId);
  } catch (err) {
    // The attach's own error is what the caller needs; a channel left behind never had its id shown.
    await ctx.store.discardChannel(channelId).catch((e) => log.error("could not discard a channel whose bot failed", { channel: channelId, err: e }));
    throw err;
  }
  const { view, failure } = attached;
  if (!failure) return view;
  await ctx.store.discardChannel(channelId);
  // The sandbox names the bot by its id, which goes with the channel; the caller knows it by its label.
  const cause = failure.message.replace(/^Bot "[^"]*" failed in onInit \([^)]*\): /, "");
  throw new AppError("BOT_ERROR", `${loaded.label} failed in onInit (${failure.reason}): ${cause}; the channel was not created`, {
    detail: { reason: failure.reason, hook: "onInit" },
  });
}

export async function getChannelInfo(ctx: ChannelsContext, caller: Caller, input: ChannelRefInput): Promise<{ view: ChannelView; bots: BotView[] }> {
  const m = await loadMembership(ctx, caller, input.channel_id);
  const bots = await ctx.store.getBots(m.channel.id);
  return { view: buildView(m.channel, m.slots, caller.principal, bots), bots: bots.map(botView) };
}

/** Whether the caller may still read the channel (holds a slot or administers it), as every read checks. */
export async function mayRead(ctx: ChannelsContext, caller: Caller, channelId: string): Promise<boolean> {
  try {
    await loadMembership(ctx, caller, channelId);
    return true;
  } catch (err) {
    if (err instanceof AppError && (err.code === "NOT_MEMBER" || err.code === "CHANNEL_NOT_FOUND")) return false;
    throw err;
  }
}

/** The caller's own channels only (created or seated in); never anyone else's. */
export async function listChannels(ctx: ChannelsContext, caller: Caller): Promise<{ channels: ChannelView[] }> {
  const records = await ctx.store.listChannelsOf(caller.principal);
  const channels = await Promise.all(records.map(async (c) => buildView(c, await ctx.store.getSlots(c.id), caller.principal, await ctx.store.getBots(c.id))));
  return { channels };
}

export interface UpdateChannelResult {
  ok: true;
  view: ChannelView;
  /** New invite codes from reissue_invite ops, by slot id. */
  invites: Record<string, string>;
}

/** Applies admin ops in order, all or nothing; each op leaves a system message. */
export async function updateChannel(ctx: ChannelsContext, caller: Caller, input: UpdateChannelInput): Promise<UpdateChannelResult> {
  const m = await loadMembership(ctx, caller, input.channel_id);
  if (!m.isAdmin) throw new AppError("NOT_ADMIN", `Only an admin of "${input.channel_id}" can update it`);
  if (m.channel.status === "closed") throw channelClosed(input.channel_id);

  const bots = await ctx.store.getBots(input.channel_id);
  const slots = new Map(m.slots.map((s) => [s.slot_id, { ...s }]));
  const changes: Change[] = [{ type: "require", open: true }];
  const messages = [];
  const invites: Record<string, string> = {};
  for (const op of input.ops) {
    const slot = "slot_id" in op ? slotFor(slots, op) : undefined;
    switch (op.type) {
      case "rename":
        changes.push({ type: "channel", set: { name: op.name } });
        messages.push(systemMessage(ctx, { type: "channel:rename", name: op.name }));
        break;
      case "kick": {
        if (slot!.kind === "bot") {
          const bot = bots.find((b) => b.slot_id === op.slot_id);
          throw new AppError("INVALID_REQUEST", bot ? `Slot ${op.slot_id} is a bot seat; it holds bot ${bot.bot_id} (${bot.name}), and bots cannot be kicked` : `Slot ${op.slot_id} is a bot seat with no bot; nothing to kick`);
        }
        if (!slot!.holder) throw new AppError("INVALID_REQUEST", `Slot ${op.slot_id} is empty; nothing to kick`);
        // The kicked holder's invite and rejoin token both die; reissue_invite seats someone new, in a
        // new occupancy: the kicked player's private messages stay theirs (and the bot's).
        changes.push({
          type: "slot",
          slot_id: op.slot_id,
          newTenure: true,
          set: { holder: null, rejoin_hash: null, prev_rejoin_hash: null, invite_hash: null, admin: false, joined_at: null, lost_by: slot!.holder, lost_reason: "kick" },
        });
        slot!.holder = null;
        messages.push(systemMessage(ctx, { type: "slot:kick", slot_id: op.slot_id }));
        break;
      }
      case "reissue_invite": {
        if (slot!.kind !== "invite") throw new AppError("INVALID_REQUEST", `Slot ${op.slot_id} is a bot slot; it takes no invite`);
        const code = newInviteCode();
        invites[op.slot_id] = code;
        changes.push({ type: "slot", slot_id: op.slot_id, set: { invite_hash: sha256Hex(code) } });
        messages.push(systemMessage(ctx, { type: "slot:reissue_invite", slot_id: op.slot_id }));
        break;
      }
      case "set_admin":
        changes.push({ type: "slot", slot_id: op.slot_id, set: { admin: op.admin } });
        messages.push(systemMessage(ctx, { type: "slot:set_admin", slot_id: op.slot_id, admin: op.admin }));
        break;
      case "close":
        changes.push({ type: "channel", set: { status: "closed" } });
        messages.push(systemMessage(ctx, { type: "channel:close" }));
        break;
    }
  }
  await commit(ctx, input.channel_id, changes, messages);
  if (input.ops.some((op) => op.type === "close")) log.info("channel closed", { channel: input.channel_id, caller: shortId(caller.principal) });
  const after = await loadMembership(ctx, caller, input.channel_id).catch(() => null);
  const view = after ? buildView(after.channel, after.slots, caller.principal, bots) : buildView(m.channel, [...slots.values()], caller.principal, bots);
  return { ok: true, view, invites };
}

function slotFor(slots: Map<string, SlotRecord>, op: Extract<UpdateOp, { slot_id: string }>): SlotRecord {
  const slot = slots.get(op.slot_id);
  if (!slot) throw new AppError("INVALID_REQUEST", `No slot "${op.slot_id}" in this channel`);
  return slot;
}
