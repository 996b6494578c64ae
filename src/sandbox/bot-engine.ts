import { AppError } from "../errors.ts";
import { ENGINE_ID } from "./engine.ts";
import type { BotPool } from "./pool.ts";
import { isPresetCode } from "./presets.ts";
import { createBotRunner, type BotRunner, type HookCall as RunnerCall, type SlotView } from "./runner.ts";

/**
 * The sandbox as channels and verifiers drive it (src/transcript/bot-protocol.ts, matched
 * structurally so the sandbox imports no feature): each hook is a pure function of the program
 * and the call. State comes in with the call; the random stream is the trigger's id (`entropy`).
 * Runners stay warm per bot between calls (cold start ~20 ms, warm hook ~0.1 ms).
 */
export interface EngineProgram {
  botId: string;
  code: string;
  params: Record<string, unknown>;
  seed: string;
  slots: SlotView[];
}

export type EngineFetch = { url: string; status: number; body: string } | { url: string; error: string };

export interface EngineCall {
  /** Recorded ctx.fetch outcomes (a replay passes the transcript's). */
  fetches?: EngineFetch[];
  /** Evaluate the module anew before the hook (a replay of a recorded reload). */
  fresh?: boolean;
  hook: "onInit" | "onJoin" | "onMessage" | "onPrivateMessage";
  args: unknown[];
  now: string;
  state: unknown;
  entropy: string;
}

export type EngineResult = (
  | { ok: true; outputs: { kind: "bot" | "control"; body: Record<string, unknown>; to_slot: string | null }[]; state: unknown }
  | { ok: false; reason: string; message: string; replayable: boolean }
) & { fetches?: EngineFetch[]; fresh?: boolean };

/** Performs one ctx.fetch for the server (operator allow-list, size and time caps). None in a replay. */
export type Fetcher = (url: string) => Promise<EngineFetch>;

/** ctx.fetch calls one hook may make; each costs a re-run of the hook from its start. */
const MAX_FETCHES_PER_HOOK = 8;

/** Warm runners kept by default; the least recently used is disposed beyond (each holds ~0.4 MiB in a pool worker). */
const DEFAULT_MAX_WARM = 256;

type Warm = Map<string, { code: string; runner: BotRunner }>;

export class SandboxEngine {
  readonly id = ENGINE_ID;
  /**
   * Warm runners, least recently used first, presets and inline code apart: however many channels
   * run inline bots, they never push a preset out (a reload written into the preset's channel).
   * Inline bots are bounded by memory as well (pool.ts).
   */
  private readonly warm: { presets: Warm; inline: Warm } = { presets: new Map(), inline: new Map() };

  /**
   * `pool`: the workers hosting this engine's bots (the process-wide pool by default). `maxWarm`:
   * runners kept loaded, presets and inline bots each; a bot beyond reloads at its next hook, which
   * the channel records.
   */
  constructor(
    private readonly pool?: BotPool,
    private readonly fetcher?: Fetcher,
    private readonly maxWarm = DEFAULT_MAX_WARM,
  ) {}

  async run(program: EngineProgram, call: EngineCall): Promise<EngineResult> {
    let runner: { runner: BotRunner; created: boolean };
    try {
      runner = await this.runnerFor(program, call);
    } catch (err) {
      return failure(err);
    }
    const seq = Number(call.entropy);
    const base = { now: call.now, slots: program.slots, seq, state: call.state };
    const [a, b] = call.args;
    const hookCall: RunnerCall =
      call.hook === "onInit"
        ? { ...base, hook: "onInit" }
        : call.hook === "onJoin"
          ? { ...base, hook: "onJoin", slotId: String(a) }
          : call.hook === "onMessage"
            ? { ...base, hook: "onMessage", msg: a }
            : { ...base, hook: "onPrivateMessage", slotId: String(a), msg: b };
    return this.runWithFetches(runner.runner, hookCall, call, runner.created);
  }

  /**
   * A hook that reads an unknown URL stops with reason "fetch"; the response is fetched (the server)
   * or taken from the record (a replay) and the hook runs again with it. Live and replay run the same
   * attempts with the same inputs. A stop ends its instance (instance.ts), so every attempt after the
   * first runs on a module evaluated anew, live and in a replay alike; only the first attempt's
   * freshness depends on the host, and that is what `fresh` reports.
   */
  private async runWithFetches(runner: BotRunner, hookCall: RunnerCall, call: EngineCall, created: boolean): Promise<EngineResult> {
    const recorded = new Map((call.fetches ?? []).map((f) => [f.url, f]));
    const given = new Map<string, EngineFetch>();
    // A new runner has just evaluated the module; a warm one must when the record says so.
    const forceFresh = call.fresh === true && !created;
    let fresh = false;
    for (let attempt = 0; ; attempt++) {
      const offered = Object.fromEntries([...given].map(([url, f]) => [url, "error" in f ? { error: f.error } : { status: f.status, body: f.body }]));
      const result = await runner.runHook({ ...hookCall, fetches: offered, fresh: attempt === 0 && forceFresh });
      if (attempt === 0) fresh = created || forceFresh || result.reloaded;
      const used = given.size ? { fetches: [...given.values()] } : {};
      const marks = { ...used, ...(fresh ? { fresh } : {}) };
      const pending = result.error?.detail?.reason === "fetch" ? String(result.error.detail.cause) : null;
      if (pending !== null && given.size < MAX_FETCHES_PER_HOOK) {
        const response = recorded.get(pending) ?? (this.fetcher ? await this.fetcher(pending) : undefined);
        if (response) {
          given.set(pending, response);
          continue;
        }
      }
      if (pending !== null) {
        // Same words live and in a replay (which has the same recorded fetches), so the error replays.
        const why = given.size >= MAX_FETCHES_PER_HOOK ? `more than ${MAX_FETCHES_PER_HOOK} ctx.fetch calls in one hook` : `ctx.fetch ${pending} has no recorded response`;
        return { ok: false, reason: "fetch", message: why, replayable: true, ...marks };
      }
      if (result.error) return { ...failure(result.error), ...marks };
      return { ok: true, outputs: result.outputs.map((o) => ({ kind: o.kind === "control" ? "control" : "bot", body: o.body, to_slot: o.to_slot })), state: result.state, ...marks };
    }
  }

  /** The bot's `manifest` export (checked), loading the code once; BOT_ERROR if it does not load. */
  async manifestOf(code: string): Promise<Record<string, unknown>> {
    const runner = await createBotRunner({ code, botId: "manifest-check", seed: "00".repeat(32), pool: this.pool });
    try {
      return runner.manifest ?? { name: "inline", version: "0.0.0", description: "An inline bot without a manifest export." };
    } finally {
      runner.dispose();
    }
  }

  dispose(): void {
    for (const warm of [this.warm.presets, this.warm.inline]) {
      for (const { runner } of warm.values()) runner.dispose();
      warm.clear();
    }
  }

  private async runnerFor(program: EngineProgram, call: EngineCall): Promise<{ runner: BotRunner; created: boolean }> {
    const warm = isPresetCode(program.code) ? this.warm.presets : this.warm.inline;
    const hit = warm.get(program.botId);
    if (hit && hit.code === program.code) {
      warm.delete(program.botId);
      warm.set(program.botId, hit); // most recently used last
      return { runner: hit.runner, created: false };
    }
    hit?.runner.dispose();
    const { botId, code, seed, params, slots } = program;
    const runner = await createBotRunner({ code, botId, seed, params, slots, state: call.state, pool: this.pool });
    warm.set(program.botId, { code: program.code, runner });
    if (warm.size > this.maxWarm) {
      const [oldest, entry] = warm.entries().next().value!;
      entry.runner.dispose();
      warm.delete(oldest);
    }
    return { runner, created: true };
  }
}

function failure(err: unknown): EngineResult {
  const e = err instanceof AppError ? err : new AppError("BOT_ERROR", String(err));
  const reason = String(e.detail?.reason ?? "exception");
  // A wall-clock kill depends on the machine, not on the inputs: a replay cannot reproduce it.
  return { ok: false, reason, message: e.message, replayable: reason !== "deadline" };
}
