import { AppError } from "../errors.ts";
import { canonicalJson } from "../lib/canonical-json.ts";
import { sha256Hex } from "../lib/hash.ts";
import { randomToken } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import type { BotRecord, Change, MessageDraft, SlotRecord } from "../store/index.ts";
import { botErrorBody, botFetchBody, botReloadBody, botSender, hookFor, INITIAL_STATE, type BotEngine, type BotProgram, type HookResult } from "../transcript/index.ts";
import { channelClosed, commit, loadMembership, sealMessage, systemMessage, timestamp, type Caller, type ChannelsContext } from "./context.ts";

/**
 * Bots' runtime: the sandbox engine and the built-in presets (bots/), and what this server's
 * bots are doing, per channel. Each server makes its own (createBotsRuntime): two servers in one
 * process (tests start several) share nothing.
 */
export interface BotsRuntime {
  engine: BotEngine;
  presets: Map<string, string>;
  /** The module's exported `manifest` (name, version, rules…), read by the engine. */
  manifestOf(code: string): Promise<Record<string, unknown>>;
  /** Per channel: its catch-up in progress (one at a time; a commit during one asks for another pass). */
  readonly catchUps: Map<string, { again: boolean; done: Promise<void> }>;
  /** Per channel: its attach in progress (one at a time, so concurrent attach_bot calls cannot all pass the caps). */
  readonly attaching: Map<string, Promise<void>>;
  /** Runs the channel's bots after a commit (context.ts calls it; it cannot import this file, which imports it). */
  readonly runBots: (ctx: ChannelsContext, channelId: string) => Promise<void>;
}

/** A server's bots runtime, with nothing in progress. */
export function createBotsRuntime(sandbox: Pick<BotsRuntime, "engine" | "presets" | "manifestOf">): BotsRuntime {
  return { ...sandbox, catchUps: new Map(), attaching: new Map(), runBots };
}

export interface BotSource {
  bot_code?: string;
  bot_preset?: string;
  bot_params?: Record<string, unknown>;
}

/** What members see of a bot (its code is one get_bot_code away). */
export interface BotView {
  bot_id: string;
  name: string;
  version: string;
  slot_id: string | null;
  code_hash: string;
  manifest_hash: string;
  seed_commit: string;
  engine: string;
}

const MAX_OUTPUT_BYTES = 64 * 1024;
/**
 * Every transcript carries its channel's bots' code (the last page of get_transcript included), so
 * the bots of one channel are bounded: in number, and in code all together (one bot may use it all).
 */
export const MAX_BOTS_PER_CHANNEL = 8;
export const MAX_CHANNEL_BOT_CODE_BYTES = 256 * 1024;
const PAGE = 500;
const RESCAN_WORTH_A_WRITE = 64;

export function botView(b: BotRecord): BotView {
  const { bot_id, name, version, slot_id, code_hash, manifest_hash, seed_commit, engine } = b;
  return { bot_id, name, version, slot_id, code_hash, manifest_hash, seed_commit, engine };
}

function runtime(ctx: ChannelsContext): BotsRuntime {
  if (!ctx.bots) throw new AppError("BOT_NOT_FOUND", "This server runs no bots");
  return ctx.bots;
}

/** A bot's source resolved and loaded once (its manifest read), before anything is written. */
export interface LoadedBot {
  code: string;
  manifest: Record<string, unknown>;
  params: Record<string, unknown>;
  /** How errors name the bot before it has an id: the preset's name, or bot_code. */
  label: string;
}

/** How a bot's onInit failed (the `bot:error` it left in the log). */
export interface HookFailure {
  code: "BOT_ERROR";
  reason: string;
  message: string;
}

/**
 * Resolves a preset or inline code and loads it in the sandbox; BOT_NOT_FOUND / BOT_ERROR if it
 * cannot. A module that does not load is named as the caller gave it, with the line and column.
 */
export async function loadBot(ctx: ChannelsContext, source: BotSource): Promise<LoadedBot> {
  const rt = runtime(ctx);
  let code: string;
  if (source.bot_preset !== undefined) {
    const preset = rt.presets.get(source.bot_preset);
    if (!preset) throw new AppError("BOT_NOT_FOUND", `No preset "${source.bot_preset}"; presets: ${[...rt.presets.keys()].join(", ")}`);
    code = preset;
  } else if (source.bot_code !== undefined) {
    code = source.bot_code;
  } else {
    throw new AppError("INVALID_REQUEST", "Give bot_code or bot_preset");
  }
  // Before anything is written (create_channel makes the channel after this).
  if (Buffer.byteLength(code) > MAX_CHANNEL_BOT_CODE_BYTES) throw new AppError("INVALID_REQUEST", `Bot code is over ${MAX_CHANNEL_BOT_CODE_BYTES / 1024} KiB`);
  const label = source.bot_preset ?? "bot_code";
  let manifest: Record<string, unknown>;
  try {
    manifest = await rt.manifestOf(code);
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== "BOT_ERROR") throw err;
    // The sandbox names the module by the check's internal id; the caller knows it by what it gave.
    const reason = String(err.detail?.reason ?? "load");
    const cause = String(err.detail?.cause ?? err.message);
    throw new AppError("BOT_ERROR", `${label} does not load${reason === "load" ? "" : ` (${reason})`}: ${cause}`, { detail: { reason, hook: "load" } });
  }
  return { code, manifest, params: source.bot_params ?? {}, label };
}

export interface Attached {
  view: BotView;
  /** Set when the bot's onInit failed: the bot stays attached (its announcement is in the log). */
  failure?: HookFailure;
}

/**
 * Attaches a bot: its exact code is hashed and announced in a `bot:attach` system message, with
 * the commitment sha256(seed), before anyone can act on it; its onInit runs right after, and the
 * answer says how it ended. It sits in bot seat `slotId`, or in the first free one.
 */
export async function attachBotTo(ctx: ChannelsContext, channelId: string, source: BotSource | LoadedBot, slotId?: string): Promise<Attached> {
  const loaded = "manifest" in source ? source : await loadBot(ctx, source);
  // One attach at a time per channel, so concurrent attach_bot calls cannot all pass the caps.
  const { attaching } = runtime(ctx);
  const previous = attaching.get(channelId) ?? Promise.resolve();
  const done = previous.then(() => attachLoaded(ctx, channelId, loaded, slotId));
  const settled = done.then(
    () => {},
    () => {},
  );
  attaching.set(channelId, settled);
  void settled.then(() => attaching.get(channelId) === settled && attaching.delete(channelId));
  return done;
}

async function attachLoaded(ctx: ChannelsContext, channelId: string, { code, manifest, params }: LoadedBot, requested: string | undefined): Promise<Attached> {
  const existing = await ctx.store.getBots(channelId);
  if (existing.length >= MAX_BOTS_PER_CHANNEL) throw new AppError("INVALID_REQUEST", `A channel holds at most ${MAX_BOTS_PER_CHANNEL} bots`);
  const slotId = seatFor(channelId, await ctx.store.getSlots(channelId), existing, requested);
  const codeBytes = existing.reduce((n, b) => n + Buffer.byteLength(b.code), Buffer.byteLength(code));
  if (codeBytes > MAX_CHANNEL_BOT_CODE_BYTES) {
    throw new AppError("INVALID_REQUEST", `A channel's bots hold at most ${MAX_CHANNEL_BOT_CODE_BYTES / 1024} KiB of code in all; this one would bring it to ${Math.ceil(codeBytes / 1024)} KiB`);
  }
  const seed = sha256Hex(randomToken("seed", 32));
  const bot: BotRecord = {
    bot_id: randomToken("bot", 12),
    channel_id: channelId,
    slot_id: slotId,
    name: String(manifest.name ?? "inline"),
    version: String(manifest.version ?? "0"),
    code,
    manifest,
    params,
    code_hash: `sha256:${sha256Hex(code)}`,
    manifest_hash: `sha256:${sha256Hex(canonicalJson(manifest))}`,
    seed,
    seed_commit: `sha256:${sha256Hex(seed)}`,
    engine: runtime(ctx).engine.id,
    state: INITIAL_STATE,
    last_seen: 0,
    created_at: timestamp(ctx),
  };
  const { bot_id, name, version, code_hash, manifest_hash, seed_commit, engine } = bot;
  const [announced] = await commit(ctx, channelId, [{ type: "require", open: true }, { type: "bot", insert: bot }], [
    systemMessage(ctx, { type: "bot:attach", bot_id, name, version, slot_id: slotId, code_hash, manifest_hash, seed_commit, engine, params: bot.params }),
  ]);
  // Its onInit answers now; a failure of the machinery (not of the bot) is logged, the attach stands.
  await runBots(ctx, channelId).catch((err) => log.error("bots failed", { channel: channelId, err }));
  const failure = await initFailure(ctx, channelId, bot_id, announced!.id);
  return { view: botView(bot), ...(failure ? { failure } : {}) };
}

/**
 * The seat a bot takes: the one asked for, which must be a free bot seat, or the first free bot seat.
 * A channel's bots cannot be removed, so a bot needs a seat of its own (its seat shows as filled).
 */
function seatFor(channelId: string, slots: readonly SlotRecord[], bots: readonly BotRecord[], requested: string | undefined): string {
  const holder = (slotId: string) => bots.find((b) => b.slot_id === slotId);
  const seats = slots.filter((s) => s.kind === "bot");
  if (requested !== undefined) {
    if (!seats.some((s) => s.slot_id === requested)) throw new AppError("INVALID_REQUEST", `Slot "${requested}" is not a bot:LABEL seat of "${channelId}"`);
    const there = holder(requested);
    if (there) throw new AppError("SLOT_ALREADY_FILLED", `Slot ${requested} already holds bot ${there.bot_id} (${there.name})`);
    return requested;
  }
  if (seats.length === 0) throw new AppError("INVALID_REQUEST", `Channel "${channelId}" has no bot:LABEL seat; a bot needs one (create the channel with one, e.g. slots: [..., "bot:ref"])`);
  const free = seats.find((s) => !holder(s.slot_id));
  if (!free) throw new AppError("SLOT_ALREADY_FILLED", `Every bot seat of "${channelId}" holds a bot (${seats.map((s) => s.slot_id).join(", ")}); bots cannot be removed`);
  return free.slot_id;
}

/**
 * The bot:error its onInit left, if it failed. A hook's messages are one commit (consecutive ids)
 * after its trigger, and the catch-up that ran it has ended, so they are there to be read.
 */
async function initFailure(ctx: ChannelsContext, channelId: string, botId: string, attachId: number): Promise<HookFailure | undefined> {
  let answered = false;
  for (let after = attachId; ; ) {
    const page = await ctx.store.listMessages(channelId, { after, slotId: "*", limit: PAGE });
    for (const m of page) {
      if (m.reply_to !== attachId) {
        if (answered) return undefined;
        continue;
      }
      answered = true;
      if (m.kind === "system" && m.body.type === "bot:error" && m.body.bot_id === botId) {
        return { code: "BOT_ERROR", reason: String(m.body.reason), message: String(m.body.message) };
      }
    }
    if (page.length < PAGE) return undefined;
    after = page.at(-1)!.id;
  }
}

/** Runs every bot of the channel over the messages it has not processed yet, in id order. */
export function runBots(ctx: ChannelsContext, channelId: string): Promise<void> {
  if (!ctx.bots) return Promise.resolve();
  const running = ctx.bots.catchUps;
  const current = running.get(channelId);
  if (current) {
    current.again = true;
    return current.done;
  }
  const entry = { again: false, done: Promise.resolve() };
  entry.done = (async () => {
    try {
      do {
        entry.again = false;
        await catchUp(ctx, channelId);
      } while (entry.again);
    } finally {
      running.delete(channelId);
    }
  })();
  running.set(channelId, entry);
  return entry.done;
}

async function catchUp(ctx: ChannelsContext, channelId: string): Promise<void> {
  const rt = runtime(ctx);
  // The store keeps the bots of the channels it caches (every post reads its channel first).
  const bots = await ctx.store.getBots(channelId);
  if (bots.length === 0) return;
  const slots = (await ctx.store.getSlots(channelId)).map(({ slot_id, label, kind }) => ({ slot_id, label, kind }));
  for (const bot of bots) {
    const program: BotProgram = { botId: bot.bot_id, code: bot.code, params: bot.params, seed: bot.seed, slots };
    let state = bot.state;
    let seen = bot.last_seen;
    let skipped = 0;
    for (let full = true; full; ) {
      const page = await ctx.store.listMessages(channelId, { after: seen, slotId: "*", limit: PAGE });
      // A short page is the end of the log as of now; a commit meanwhile asks runBots for another pass.
      full = page.length === PAGE;
      for (const m of page) {
        const plan = hookFor(bot.bot_id, m);
        if (!plan) {
          seen = m.id;
          skipped++;
          continue;
        }
        const result = checkOutputs(await rt.engine.run(program, { ...plan, state }), slots);
        if (!result.ok) log.warn("bot error", { channel: channelId, bot: bot.bot_id, hook: plan.hook, reason: result.reason, error: result.message });
        const drafts: MessageDraft[] = result.ok
          ? result.outputs.map((o) => ({ sender: botSender(bot.bot_id), kind: o.kind, body: o.body, ts: timestamp(ctx), to_slot: o.to_slot, reply_to: m.id }))
          : [{ ...systemMessage(ctx, botErrorBody(bot.bot_id, result)), reply_to: m.id }];
        // What ctx.fetch returned is part of the record: a replay reads exactly these bytes.
        if (result.fetches?.length) drafts.unshift({ ...systemMessage(ctx, botFetchBody(bot.bot_id, result.fetches)), reply_to: m.id });
        // So is a reload (module-level variables started over); onInit always runs on a fresh module.
        if (result.fresh && plan.hook !== "onInit") drafts.unshift({ ...systemMessage(ctx, botReloadBody(bot.bot_id)), reply_to: m.id });
        if (result.ok) state = result.state;
        const changes: Change[] = [{ type: "bot_state", bot_id: bot.bot_id, state, last_seen: m.id }];
        await commit(ctx, channelId, changes, drafts, { fromBots: true });
        seen = m.id;
        skipped = 0;
      }
    }
    // Messages after the last hook that trigger nothing (its own answers, mostly) are skipped again
    // by the next pass; only a long run of them is worth a write.
    if (skipped >= RESCAN_WORTH_A_WRITE) await ctx.store.apply(channelId, [{ type: "bot_state", bot_id: bot.bot_id, state, last_seen: seen }], [], sealMessage);
  }
}

/** Outputs must address real seats and stay small; otherwise the hook counts as failed. */
function checkOutputs(result: HookResult, slots: { slot_id: string }[]): HookResult {
  if (!result.ok) return result;
  for (const o of result.outputs) {
    if (o.to_slot !== null && !slots.some((s) => s.slot_id === o.to_slot)) {
      return { ok: false, reason: "bad_output", message: `postTo an unknown slot "${o.to_slot}"`, replayable: true };
    }
    if (canonicalJson(o.body).length > MAX_OUTPUT_BYTES) {
      return { ok: false, reason: "bad_output", message: `a message body over ${MAX_OUTPUT_BYTES} bytes`, replayable: true };
    }
  }
  return result;
}

async function requireBot(ctx: ChannelsContext, channelId: string, botId: string): Promise<BotRecord> {
  const bot = (await ctx.store.getBots(channelId)).find((b) => b.bot_id === botId);
  if (!bot) throw new AppError("BOT_NOT_FOUND", `No bot "${botId}" in "${channelId}"`);
  return bot;
}

/** The exact source whose SHA-256 is the announced code_hash, and everything else a player checks. */
export async function getBotCode(ctx: ChannelsContext, caller: Caller, input: { channel_id: string; bot_id: string }) {
  await loadMembership(ctx, caller, input.channel_id);
  const b = await requireBot(ctx, input.channel_id, input.bot_id);
  return { ...botView(b), code: b.code, manifest: b.manifest, params: b.params };
}

/** A private message from the caller's seat to a bot; the bot may answer privately. */
export async function dmBot(ctx: ChannelsContext, caller: Caller, input: { channel_id: string; bot_id: string; message: string }) {
  const bytes = Buffer.byteLength(input.message, "utf8");
  if (bytes > ctx.limits.maxMessageBytes) throw new AppError("INVALID_REQUEST", `Message is ${bytes} bytes; the limit is ${ctx.limits.maxMessageBytes}`);
  const m = await loadMembership(ctx, caller, input.channel_id);
  if (!m.slot) throw new AppError("NOT_MEMBER", `You hold no slot in "${input.channel_id}"; redeem an invite to talk to its bots`);
  await requireBot(ctx, input.channel_id, input.bot_id);
  const [msg] = await commit(ctx, input.channel_id, [{ type: "require", open: true, holder: { slot_id: m.slot.slot_id, principal: caller.principal } }], [
    { sender: m.slot.slot_id, kind: "user", body: { text: input.message }, ts: timestamp(ctx), to_slot: botSender(input.bot_id) },
  ]);
  // `id` as messages carry it; `msg_id` is the same number, the name this answer had first.
  return { ok: true, delivered_to: botSender(input.bot_id), id: msg!.id, msg_id: msg!.id };
}

/**
 * attach_bot: an admin adds a bot to an open channel, in the bot:LABEL seat asked for or the first
 * free one. The announcement cannot be taken back from a log others read, so a bot whose onInit
 * fails stays attached, and the answer says so in `bot_error` (the log holds the same bot:error).
 */
export async function attachBot(ctx: ChannelsContext, caller: Caller, input: BotSource & { channel_id: string; slot_id?: string }) {
  const m = await loadMembership(ctx, caller, input.channel_id);
  if (!m.isAdmin) throw new AppError("NOT_ADMIN", `Only an admin of "${input.channel_id}" can attach bots`);
  if (m.channel.status === "closed") throw channelClosed(input.channel_id);
  // Checked again under the channel's attach lock; here, so a refusal costs no load in the sandbox.
  seatFor(input.channel_id, m.slots, await ctx.store.getBots(input.channel_id), input.slot_id);
  const { view, failure } = await attachBotTo(ctx, input.channel_id, input, input.slot_id);
  return { bot_id: view.bot_id, code_hash: view.code_hash, seed_commit: view.seed_commit, ...(failure ? { bot_error: failure } : {}) };
}
