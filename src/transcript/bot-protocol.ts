/**
 * How a bot is driven: the one hook protocol, shared by the server (src/channels), every verifier
 * (parley verify, the web page) and the sandbox that runs the hooks (src/sandbox implements
 * BotEngine with these very types). Which message triggers which hook, with which inputs: replay is
 * exact only because both sides use these functions. A hook is a pure function of (program, call):
 * the state goes in and comes out as JSON text, and the randomness is derived from the seed and the
 * trigger's id.
 *
 * The one thing a bot keeps between hooks besides its state is its module's own variables. They
 * start over whenever the module is evaluated anew: at attach, and whenever the server reloads the
 * bot (a restart, an evicted idle instance, a replaced worker, a broken limit). The server records
 * each reload (`bot:reload`, reply_to = the hook's trigger) and a replay reloads at the same hooks.
 */
export type HookName = "onInit" | "onJoin" | "onMessage" | "onPrivateMessage";

export interface BotProgram {
  botId: string;
  code: string;
  params: Record<string, unknown>;
  /** Hex seed; the engine derives each hook's randomness from it and HookCall.entropy. */
  seed: string;
  /** The channel's slots as created (slot_id, label, kind): fixed, so replays see the same view. */
  slots: { slot_id: string; label: string; kind: string }[];
}

/** A ctx.fetch outcome, recorded in the transcript (a `bot:fetch` system message) so a replay reads the same bytes. */
export type FetchRecord = { url: string; status: number; body: string } | { url: string; error: string };

/** A bot's state before any hook set one. */
export const INITIAL_STATE = "null";

export interface HookCall {
  /** Recorded ctx.fetch responses this hook may read (replay); the server fetches what is missing. */
  fetches?: FetchRecord[];
  hook: HookName;
  /** The hook's arguments after ctx, as hookFor gives them; they reach the bot as they are. */
  args: unknown[];
  /** ctx.now(): the triggering message's ts, never the wall clock. */
  now: string;
  /**
   * The bot's state before the hook, as JSON text (INITIAL_STATE at first). Only the bot reads it
   * (ctx.getState parses it in the sandbox); the server stores it and hands it back as it came.
   */
  state: string;
  /** Per-hook randomness input: the triggering message id. */
  entropy: string;
  /** Evaluate the bot's module anew before this hook (a replay of a recorded `bot:reload`). */
  fresh?: boolean;
}

export interface BotOutput {
  kind: "bot" | "control";
  body: Record<string, unknown>;
  to_slot: string | null;
}

export type HookResult = (
  /** `state`: the JSON text the bot's last setState made (the call's own when it set none). */
  | { ok: true; outputs: BotOutput[]; state: string }
  /** replayable=false for wall-clock kills, which a replay cannot reproduce (the hook's effects are discarded). */
  | { ok: false; reason: string; message: string; replayable: boolean }
) & {
  /** The ctx.fetch outcomes the hook read, to be recorded before its outputs. */
  fetches?: FetchRecord[];
  /** The hook ran on a module evaluated anew for it (module-level variables at their start). */
  fresh?: boolean;
};

export interface BotEngine {
  /** Engine id announced in bot:attach, e.g. "quickjs-2025-09-13". */
  readonly id: string;
  run(program: BotProgram, call: HookCall): Promise<HookResult>;
}

/** The message shape a hook receives. */
export interface HookMessage {
  id: number;
  sender: string;
  kind: string;
  body: Record<string, unknown>;
  ts: string;
  to_slot: string | null;
  reply_to?: number;
}

export const botSender = (botId: string) => `bot:${botId}`;

/**
 * Which hook (if any) a message triggers for a bot. Bots react to their own attach (onInit), seat
 * joins (onJoin), public user messages (onMessage) and private messages addressed to them
 * (onPrivateMessage). They never see other seats' private messages, and bot output never triggers
 * a bot (no bot-to-bot loops).
 */
export function hookFor(botId: string, m: HookMessage): Omit<HookCall, "state"> | null {
  const base = { now: m.ts, entropy: String(m.id) };
  if (m.kind === "system" && m.body.type === "bot:attach" && m.body.bot_id === botId) return { ...base, hook: "onInit", args: [] };
  if (m.to_slot === botSender(botId) && m.kind === "user") return { ...base, hook: "onPrivateMessage", args: [m.sender, toHookMessage(m)] };
  if (m.to_slot !== null) return null;
  if (m.kind === "system" && m.body.type === "slot:join") return { ...base, hook: "onJoin", args: [m.body.slot_id] };
  if (m.kind === "user") return { ...base, hook: "onMessage", args: [toHookMessage(m)] };
  return null;
}

function toHookMessage(m: HookMessage): HookMessage {
  return { id: m.id, sender: m.sender, kind: m.kind, body: m.body, ts: m.ts, to_slot: m.to_slot };
}

/** The system message recording a hook's ctx.fetch outcomes (reply_to = its trigger), before its outputs. */
export function botFetchBody(botId: string, fetches: FetchRecord[]): Record<string, unknown> {
  return { type: "bot:fetch", bot_id: botId, fetches };
}

/** The system message recording that a hook ran on a freshly evaluated module (reply_to = its trigger), first of its messages. */
export function botReloadBody(botId: string): Record<string, unknown> {
  return { type: "bot:reload", bot_id: botId };
}

/** The system message a failed hook leaves (reply_to = its trigger). */
export function botErrorBody(botId: string, result: Extract<HookResult, { ok: false }>): Record<string, unknown> {
  return { type: "bot:error", bot_id: botId, code: "BOT_ERROR", reason: result.reason, message: result.message, replayable: result.replayable };
}
