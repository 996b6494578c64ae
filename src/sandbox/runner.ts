/**
 * The main-thread side of one bot: owns its place in the worker pool (pool.ts), its state, its hook
 * sequence and its slot view, and runs one hook at a time. A hook that does not answer within
 * `terminateMs` (the bot is stuck in a native call between two polls) has its worker terminated; the
 * bot, and every bot sharing that worker (presets only share), is reloaded on a fresh worker before
 * its next hook.
 */
import { AppError } from "../errors.ts";
import type { BotOutput } from "./host-api.ts";
import type { BotFailure, HookOutcome, InstanceOptions } from "./instance.ts";
import { BotManifestSchema, MAX_MANIFEST_CHARS, type BotManifest } from "./manifest.ts";
import { resolveLimits, type SandboxLimits } from "./limits.ts";
import { parseSeed } from "./rng.ts";
import { defaultPool, type BotPool, type BotSlot, type PoolReply } from "./pool.ts";
import { isPresetCode } from "./presets.ts";

/** A slot as the bot sees it (channels' slot view); `slot_id` is what postTo accepts. */
export interface SlotView {
  slot_id: string;
  [key: string]: unknown;
}

export interface BotRunnerOptions {
  /** The bot's ES module source: `export default { onInit, onJoin, onMessage, onPrivateMessage }`. */
  code: string;
  botId: string;
  /** The committed seed, 64 hex digits (rng.ts). */
  seed: string;
  /** ctx.params: a JSON object, frozen inside the sandbox. */
  params?: Record<string, unknown>;
  slots?: SlotView[];
  limits?: Partial<SandboxLimits>;
  /** To resume a bot: its state and the number of hooks it has already run. */
  state?: unknown;
  seq?: number;
  /** The workers that host it (pool.ts); the process-wide pool by default. */
  pool?: BotPool;
  /** Run on a worker of its own (pool.ts); by default every bot but the built-in presets does. */
  isolated?: boolean;
}

/**
 * One hook call. `now` is the triggering message's ts (ISO 8601); `slots` replaces the view from now on.
 * `seq` and `state`, when given, replace the runner's own: a caller that derives the hook's random
 * stream from its trigger (channels use the message id) and keeps the state itself (in the store)
 * makes every hook a pure function of its inputs, so a warm runner and a replay agree.
 */
export type HookCall = {
  now: string;
  slots?: SlotView[];
  seq?: number;
  state?: unknown;
  fetches?: Record<string, unknown>;
  /** Evaluate the module anew before the hook: module-level variables start over, as after a reload. */
  fresh?: boolean;
} & (
  | { hook: "onInit" }
  | { hook: "onJoin"; slotId: string }
  | { hook: "onMessage"; msg: unknown }
  | { hook: "onPrivateMessage"; slotId: string; msg: unknown }
);

export interface HookResult {
  /** This hook's sequence number (1 for the first hook the bot ever ran). */
  seq: number;
  /** What the bot posted, in order; empty when the hook failed (a hook is all or nothing). */
  outputs: BotOutput[];
  /** The bot's state after the hook (unchanged when it failed). */
  state: unknown;
  /** BOT_ERROR with `detail.reason` (limits.ts BotErrorReason) when the hook failed. */
  error?: AppError;
  /** Budget used, in polls. */
  polls: number;
  /** The bot's wasm memory after the hook, bytes (at most memoryPages × 64 KiB). */
  memoryBytes: number;
  /**
   * The bot module was evaluated again before this hook: asked for (`fresh`), after a broken limit,
   * after the worker was replaced, or after the worker let the instance go (least recently used).
   */
  reloaded: boolean;
}

export interface BotRunner extends Disposable {
  /** The module's `manifest` export, checked (manifest.ts), or null when it has none. */
  readonly manifest: BotManifest | null;
  runHook(call: HookCall): Promise<HookResult>;
  dispose(): void;
}

function botError(botId: string, where: string, seq: number, failure: BotFailure): AppError {
  return new AppError("BOT_ERROR", `Bot "${botId}" failed in ${where} (${failure.reason}): ${failure.message}`, {
    detail: { reason: failure.reason, hook: where, seq, cause: failure.message },
  });
}

/**
 * Starts a bot: places it on a pool worker and evaluates its module there. Rejects with BOT_ERROR (reason
 * "load", or the limit its top-level code broke) when the source cannot run.
 */
export async function createBotRunner(options: BotRunnerOptions): Promise<BotRunner> {
  const limits = resolveLimits(options.limits);
  const params = options.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) throw new AppError("INVALID_REQUEST", "Bot params must be a JSON object");
  const seq = options.seq ?? 0;
  if (!Number.isSafeInteger(seq) || seq < 0) throw new AppError("INVALID_REQUEST", `Invalid hook sequence number ${seq}`);
  const instance: InstanceOptions = {
    code: options.code,
    botId: options.botId,
    params: JSON.stringify(params),
    seed: parseSeed(options.seed),
    limits,
  };
  const isolated = options.isolated ?? !isPresetCode(options.code);
  const runner = new Runner((options.pool ?? defaultPool()).attach(instance, isolated), limits, options.slots ?? [], JSON.stringify(options.state ?? null), seq);
  const failure = await runner.start();
  if (failure) {
    runner.dispose();
    throw botError(options.botId, "load", seq, failure);
  }
  return runner;
}

class Runner implements BotRunner {
  manifest: BotManifest | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly slot: BotSlot,
    private readonly limits: SandboxLimits,
    private slots: SlotView[],
    private state: string,
    private seq: number,
  ) {}

  /** Loads the bot on its worker; the failure, if any, is the bot's. */
  async start(): Promise<BotFailure | undefined> {
    const reply = await this.slot.load(this.limits.terminateMs);
    if (reply.type !== "ready") return this.terminated(reply);
    if (reply.error) return reply.error;
    return this.readManifest(reply.manifest);
  }

  private readManifest(json: string | null): BotFailure | undefined {
    if (json === null) return undefined;
    if (json.length > MAX_MANIFEST_CHARS) return { reason: "load", message: `its manifest is over ${MAX_MANIFEST_CHARS} characters` };
    const parsed = BotManifestSchema.safeParse(JSON.parse(json));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { reason: "load", message: `its manifest is invalid: ${issue.path.join(".") || "manifest"}: ${issue.message}` };
    }
    this.manifest = parsed.data;
    return undefined;
  }

  private terminated(reply: PoolReply): BotFailure {
    if (reply.type === "terminated" && reply.reason === "exception") return { reason: "exception", message: "its worker crashed" };
    return { reason: "deadline", message: `did not answer within ${this.limits.terminateMs} ms and was terminated` };
  }

  runHook(call: HookCall): Promise<HookResult> {
    const run = this.queue.then(() => this.exec(call));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async exec(call: HookCall): Promise<HookResult> {
    if (this.disposed) throw new AppError("INTERNAL_ERROR", "The bot runner is disposed");
    const now = Date.parse(call.now);
    if (!Number.isFinite(now)) throw new AppError("INVALID_REQUEST", `Invalid hook time ${JSON.stringify(call.now)}`);
    if (call.slots) this.slots = call.slots;
    const args = call.hook === "onInit" ? [] : call.hook === "onJoin" ? [call.slotId] : call.hook === "onMessage" ? [call.msg] : [call.slotId, call.msg];
    if (call.seq !== undefined) {
      if (!Number.isSafeInteger(call.seq) || call.seq < 1) throw new AppError("INVALID_REQUEST", `Invalid hook sequence number ${call.seq}`);
      this.seq = call.seq - 1;
    }
    if (call.state !== undefined) this.state = JSON.stringify(call.state);
    const seq = ++this.seq;
    const input = {
      hook: call.hook,
      args: JSON.stringify(args),
      slots: JSON.stringify(this.slots),
      slotIds: this.slots.map((s) => s.slot_id),
      now,
      seq,
      state: this.state,
      fetches: JSON.stringify(call.fetches ?? {}),
    };
    const reply = await this.slot.hook(input, this.limits.terminateMs, call.fresh);
    if (reply.type !== "result") return this.failed(call.hook, seq, this.terminated(reply), false);
    return this.finish(call.hook, seq, reply, reply.reloaded);
  }

  private finish(hook: string, seq: number, outcome: HookOutcome, reloaded: boolean): HookResult {
    const usage = { polls: outcome.polls, memoryBytes: outcome.memoryBytes };
    if (outcome.error) return this.failed(hook, seq, outcome.error, reloaded, usage);
    this.state = outcome.state;
    return { seq, outputs: outcome.outputs, state: JSON.parse(this.state), ...usage, reloaded };
  }

  private failed(hook: string, seq: number, failure: BotFailure, reloaded: boolean, usage = { polls: 0, memoryBytes: 0 }): HookResult {
    return { seq, outputs: [], state: JSON.parse(this.state), error: botError(this.slot.options.botId, hook, seq, failure), ...usage, reloaded };
  }

  dispose(): void {
    this.disposed = true;
    this.slot.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
