/**
 * The sandbox as channels and verifiers drive it: the hook protocol's engine
 * (src/transcript/bot-protocol.ts, whose types it takes as they are). Each hook is a pure function of
 * the program and the call: the state comes in with the call as JSON text and goes back as JSON
 * text, never parsed here; the random stream is the trigger's id (`entropy`).
 *
 * Bots stay loaded between calls (warm) on their pool worker (pool.ts): cold start ~20 ms, warm hook
 * ~0.1 ms. A hook that does not answer within `terminateMs` (stuck in a native call between two
 * polls) has its worker terminated; the bot, and every bot sharing that worker (presets only share),
 * is reloaded on a fresh worker before its next hook, which reports it (`fresh`).
 */
import { AppError } from "../errors.ts";
import type { BotEngine, BotProgram, FetchRecord, HookCall, HookResult } from "../transcript/index.ts";
import { ENGINE_ID } from "./engine.ts";
import type { BotFailure, InstanceOptions } from "./instance.ts";
import { resolveLimits, type SandboxLimits } from "./limits.ts";
import { BotManifestSchema, MAX_MANIFEST_CHARS, type BotManifest } from "./manifest.ts";
import { defaultPool, type BotPool, type BotSlot, type PoolReply } from "./pool.ts";
import { isPresetCode } from "./presets.ts";
import { parseSeed } from "./rng.ts";

/** Performs one ctx.fetch for the server (operator allow-list, size and time caps). None in a replay. */
export type Fetcher = (url: string) => Promise<FetchRecord>;

/** What a hook spent, beside its result (reports, tests, benches); 0 for a hook that never ran. */
export interface HookUsage {
  /** Budget used, in polls. */
  polls: number;
  /** The bot's wasm memory after the hook, bytes (at most memoryPages × 64 KiB). */
  memoryBytes: number;
}

export interface EngineTuning {
  /** Limits of every bot this engine runs; DEFAULT_LIMITS otherwise, the ones ENGINE_ID names (replays use them). */
  limits?: Partial<SandboxLimits>;
  /** Inline code on a worker of its own (the default), or on the shared workers like a preset (tests). */
  isolateInline?: boolean;
}

type Failed = Extract<HookResult, { ok: false }>;
type Loaded = { slot: BotSlot; manifest: BotManifest | null };
type Warm = Map<string, { code: string; seed: string; loading: Promise<Loaded | Failed> }>;

/** ctx.fetch calls one hook may make; each costs a re-run of the hook from its start. */
const MAX_FETCHES_PER_HOOK = 8;

/** Bots kept warm by default; the least recently used is let go beyond (a preset holds ~0.4 MiB in a pool worker). */
const DEFAULT_MAX_WARM = 256;

const NO_USAGE: HookUsage = { polls: 0, memoryBytes: 0 };

export class SandboxEngine implements BotEngine {
  readonly id = ENGINE_ID;
  private readonly pool: BotPool;
  private readonly limits: SandboxLimits;
  private readonly isolateInline: boolean;
  /**
   * Warm bots by bot id, least recently used first, presets and inline code apart: however many
   * channels run inline bots, they never push a preset out (a reload written into the preset's
   * channel). Inline bots are bounded by memory as well (pool.ts).
   */
  private readonly warm: { presets: Warm; inline: Warm } = { presets: new Map(), inline: new Map() };
  private disposed = false;

  /**
   * `pool`: the workers hosting this engine's bots (the process-wide pool by default). `maxWarm`:
   * bots kept loaded, presets and inline bots each; a bot beyond reloads at its next hook, which the
   * channel records.
   */
  constructor(
    pool?: BotPool,
    private readonly fetcher?: Fetcher,
    private readonly maxWarm = DEFAULT_MAX_WARM,
    tuning: EngineTuning = {},
  ) {
    this.pool = pool ?? defaultPool();
    this.limits = resolveLimits(tuning.limits);
    this.isolateInline = tuning.isolateInline ?? true;
  }

  /**
   * Runs one hook. A failure of the bot (it threw, broke a limit, cannot load) is a result with
   * `ok: false`; a call that is not a hook call (a bad time or trigger id) rejects with INVALID_REQUEST.
   */
  async run(program: BotProgram, call: HookCall): Promise<HookResult & HookUsage> {
    if (this.disposed) throw new AppError("INTERNAL_ERROR", "The bot engine is disposed");
    if (!Number.isFinite(Date.parse(call.now))) throw new AppError("INVALID_REQUEST", `Invalid hook time ${JSON.stringify(call.now)}`);
    const seq = Number(call.entropy);
    if (!Number.isSafeInteger(seq) || seq < 1) throw new AppError("INVALID_REQUEST", `Invalid hook sequence number ${call.entropy}`);
    const { loaded, created } = this.botFor(program);
    const bot = await loaded;
    if ("ok" in bot) return { ...bot, ...NO_USAGE };
    return this.runWithFetches(program.botId, bot.slot, call, created);
  }

  /**
   * A hook that reads an unknown URL stops with reason "fetch"; the response is fetched (the server)
   * or taken from the record (a replay) and the hook runs again with it. Live and replay run the same
   * attempts with the same inputs. A stop ends its instance (instance.ts), so every attempt after the
   * first runs on a module evaluated anew, live and in a replay alike; only the first attempt's
   * freshness depends on the host, and that is what `fresh` reports.
   */
  private async runWithFetches(botId: string, slot: BotSlot, call: HookCall, created: boolean): Promise<HookResult & HookUsage> {
    const recorded = new Map((call.fetches ?? []).map((f) => [f.url, f]));
    const given = new Map<string, FetchRecord>();
    // A new bot has just evaluated its module; a warm one must when the record says so.
    const forceFresh = call.fresh === true && !created;
    let fresh = false;
    for (let attempt = 0; ; attempt++) {
      const reply = await slot.hook({ ...call, fetches: [...given.values()], fresh: attempt === 0 && forceFresh }, this.limits.terminateMs);
      if (attempt === 0) fresh = created || forceFresh || (reply.type === "result" && reply.reloaded);
      const marks = { ...(given.size ? { fetches: [...given.values()] } : {}), ...(fresh ? { fresh } : {}) };
      if (reply.type !== "result") return { ...failed(botId, call.hook, this.terminated(reply)), ...marks, ...NO_USAGE };
      const usage = { polls: reply.polls, memoryBytes: reply.memoryBytes };
      if (reply.ok) return { ok: true, outputs: reply.outputs, state: reply.state, ...marks, ...usage };
      if (reply.failure.reason !== "fetch") return { ...failed(botId, call.hook, reply.failure), ...marks, ...usage };
      const url = reply.failure.message;
      if (given.size < MAX_FETCHES_PER_HOOK) {
        const response = recorded.get(url) ?? (this.fetcher ? await this.fetcher(url) : undefined);
        if (response) {
          given.set(url, response);
          continue;
        }
      }
      // Same words live and in a replay (which has the same recorded fetches), so the error replays.
      const why = given.size >= MAX_FETCHES_PER_HOOK ? `more than ${MAX_FETCHES_PER_HOOK} ctx.fetch calls in one hook` : `ctx.fetch ${url} has no recorded response`;
      return { ok: false, reason: "fetch", message: why, replayable: true, ...marks, ...usage };
    }
  }

  /** The bot's `manifest` export (checked), loading the code once; BOT_ERROR if it does not load. */
  async manifestOf(code: string): Promise<Record<string, unknown>> {
    const botId = "manifest-check";
    const loaded = await this.load({ botId, code, params: {}, seed: "00".repeat(32), slots: [] });
    if ("failure" in loaded) {
      const { reason, message } = loaded.failure;
      throw new AppError("BOT_ERROR", failureMessage(botId, "load", loaded.failure), { detail: { reason, hook: "load", seq: 0, cause: message } });
    }
    loaded.slot.release();
    return loaded.manifest ?? { name: "inline", version: "0.0.0", description: "An inline bot without a manifest export." };
  }

  dispose(): void {
    this.disposed = true;
    for (const warm of [this.warm.presets, this.warm.inline]) {
      for (const entry of warm.values()) release(entry.loading);
      warm.clear();
    }
  }

  /** The bot's warm place, or a new one loading (`created`: this hook is the first on its module). */
  private botFor(program: BotProgram): { loaded: Promise<Loaded | Failed>; created: boolean } {
    const warm = isPresetCode(program.code) ? this.warm.presets : this.warm.inline;
    const hit = warm.get(program.botId);
    // A bot id names one code and seed (params and slots too) for good; a verifier may still meet another under it.
    if (hit && hit.code === program.code && hit.seed === program.seed) {
      warm.delete(program.botId);
      warm.set(program.botId, hit); // most recently used last
      return { loaded: hit.loading, created: false };
    }
    if (hit) release(hit.loading);
    const entry = { code: program.code, seed: program.seed, loading: this.loadWarm(program) };
    warm.set(program.botId, entry);
    // A bot that failed to load is not kept: its next hook tries again, as a new load.
    void entry.loading.then((b) => "ok" in b && warm.get(program.botId) === entry && warm.delete(program.botId));
    if (warm.size > this.maxWarm) {
      const [oldest, evicted] = warm.entries().next().value!;
      release(evicted.loading);
      warm.delete(oldest);
    }
    return { loaded: entry.loading, created: true };
  }

  private async loadWarm(program: BotProgram): Promise<Loaded | Failed> {
    try {
      const loaded = await this.load(program);
      return "failure" in loaded ? failed(program.botId, "load", loaded.failure) : loaded;
    } catch (err) {
      // Params or a seed that are not a bot's (INVALID_REQUEST): the hook fails, the channel goes on.
      return { ok: false, reason: "exception", message: err instanceof Error ? err.message : String(err), replayable: true };
    }
  }

  /** Places the bot on the pool and evaluates its module there; its failure, if any, is the bot's. */
  private async load(program: BotProgram): Promise<Loaded | { failure: BotFailure }> {
    const { botId, code, params } = program;
    if (typeof params !== "object" || params === null || Array.isArray(params)) throw new AppError("INVALID_REQUEST", "Bot params must be a JSON object");
    const options: InstanceOptions = { code, botId, params: JSON.stringify(params), slots: JSON.stringify(program.slots), seed: parseSeed(program.seed), limits: this.limits };
    const slot = this.pool.attach(options, this.isolateInline && !isPresetCode(code));
    const reply = await slot.load(this.limits.terminateMs);
    const read = reply.type !== "ready" ? { failure: this.terminated(reply) } : reply.failure ? { failure: reply.failure } : readManifest(reply.manifest);
    if ("failure" in read) {
      slot.release();
      return read;
    }
    return { slot, manifest: read.manifest };
  }

  private terminated(reply: PoolReply): BotFailure {
    if (reply.type === "terminated" && reply.reason === "exception") return { reason: "exception", message: "its worker crashed" };
    return { reason: "deadline", message: `did not answer within ${this.limits.terminateMs} ms and was terminated` };
  }
}

function readManifest(json: string | null): { manifest: BotManifest | null } | { failure: BotFailure } {
  if (json === null) return { manifest: null };
  if (json.length > MAX_MANIFEST_CHARS) return { failure: { reason: "load", message: `its manifest is over ${MAX_MANIFEST_CHARS} characters` } };
  const parsed = BotManifestSchema.safeParse(JSON.parse(json));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { failure: { reason: "load", message: `its manifest is invalid: ${issue.path.join(".") || "manifest"}: ${issue.message}` } };
  }
  return { manifest: parsed.data };
}

function release(loading: Promise<Loaded | Failed>): void {
  void loading.then((b) => "slot" in b && b.slot.release());
}

/**
 * How a bot's failure reads, in `bot:error` messages and BOT_ERROR answers (`where`: the hook, or
 * "load"). Replays compare these words with the recorded ones, so they must never change.
 */
function failureMessage(botId: string, where: string, failure: BotFailure): string {
  return `Bot "${botId}" failed in ${where} (${failure.reason}): ${failure.message}`;
}

function failed(botId: string, where: string, failure: BotFailure): Failed {
  // A wall-clock kill depends on the machine, not on the inputs: a replay cannot reproduce it.
  return { ok: false, reason: failure.reason, message: failureMessage(botId, where, failure), replayable: failure.reason !== "deadline" };
}
