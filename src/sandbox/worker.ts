/**
 * Worker entry: hosts many bots off the main event loop, each in its own QuickJS instance on its own
 * capped wasm memory (instance.ts), all from the one compiled module. QuickJS polls its interrupt
 * handler only every ~10k operations, and one poll can be seconds after the last (a native call, such
 * as a big sort or JSON of a big structure, runs to its end in between: test/unit/sandbox/abuse.test.ts),
 * so a bot must never run on the thread that answers MCP requests; the pool (pool.ts) terminates this
 * worker as the last resort and reloads its bots on a fresh one.
 *
 * Requests are handled one at a time, in arrival order (the pool sends one at a time anyway): hooks of
 * different bots never interleave, and a bot's hooks run in the order they were sent.
 *
 * In a `bun build --compile` binary this file must be a second entrypoint of the build
 * (`bun build --compile src/main.ts src/sandbox/worker.ts …`); pool.ts finds it there.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import type { HookCall } from "../transcript/index.ts";
import { BotInstance, type Attempt, type BotFailure, type InstanceOptions } from "./instance.ts";
import { DEFAULT_LIMITS } from "./limits.ts";

/** Nice value of a thread running untrusted code: Linux then gives it ~1/9 of what a nice-0 thread gets. */
const UNTRUSTED_NICE = 10;

// QuickJS takes its zone offset from localtime_r, which emscripten answers with this thread's
// Date#getTimezoneOffset (under TZ=America/New_York a bot saw 300). A bot must see UTC on every
// host, and a Bun worker cannot change its own zone (setting process.env.TZ here had no effect under
// Bun 1.4.5), so this thread, which only runs bots, answers UTC itself
// (test/unit/sandbox/hooks.test.ts: "every bot sees UTC whatever the host zone").
Date.prototype.getTimezoneOffset = function getTimezoneOffset() {
  return 0;
};

export type WorkerRequest =
  /**
   * First message: the compiled engine and how many instances to keep live (LRU beyond);
   * `isolated`: this thread hosts one bot of untrusted code (it lowers its own priority).
   */
  | { type: "engine"; wasm: WebAssembly.Module; maxLive: number; isolated: boolean }
  /** Registers a bot (options) and evaluates its module now. */
  | { type: "load"; id: number; bot: number; options: InstanceOptions }
  /**
   * The hook call as the engine got it (its `fetches`: the responses this attempt may read; its
   * `fresh`: evaluate the module anew first). `options` is sent when this worker may not know the
   * bot yet (a fresh worker after a kill).
   */
  | { type: "hook"; id: number; bot: number; options?: InstanceOptions; call: HookCall }
  | { type: "drop"; bot: number };

/** `live`: the bot's instance is still loaded after the request (the pool counts its memory). */
export type WorkerReply =
  | { type: "up" }
  | { type: "ready"; id: number; failure?: BotFailure; manifest: string | null; memoryBytes: number; live: boolean }
  | ({ type: "result"; id: number; reloaded: boolean; live: boolean } & Attempt);

declare const self: Worker;

let wasm: WebAssembly.Module | undefined;
let maxLive = Infinity;
/** Every bot this worker hosts; Map order is least recently used first among the live ones. */
const bots = new Map<number, { options: InstanceOptions; instance?: BotInstance }>();
let live = 0;

async function load(bot: number): Promise<BotFailure | undefined> {
  const entry = bots.get(bot)!;
  try {
    const loaded = await BotInstance.load(wasm!, entry.options);
    if ("error" in loaded) return loaded.error;
    entry.instance = loaded.instance;
    live++;
    evictIdle(bot);
    return undefined;
  } catch (err) {
    // The prelude itself failed (an engine fault, or limits too small for it): answer, never hang.
    return { reason: "exception", message: `the engine failed to start: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200) };
  }
}

/** Beyond maxLive instances the least recently used is dropped; its bot reloads at its next hook. */
function evictIdle(keep: number): void {
  for (const [bot, entry] of bots) {
    if (live <= maxLive) return;
    if (bot !== keep && entry.instance) dropInstance(entry);
  }
}

function dropInstance(entry: { instance?: BotInstance }, blown = false): void {
  entry.instance!.dispose();
  entry.instance = undefined;
  live--;
  // A blown instance may hold up to its cap of wasm memory; only a GC of its Memory gives it back.
  if (blown) Bun.gc(true);
}

function touch(bot: number): void {
  const entry = bots.get(bot)!;
  bots.delete(bot);
  bots.set(bot, entry);
}

function reply(message: WorkerReply): void {
  self.postMessage(message);
}

/**
 * Linux gives each thread its own nice value (setpriority on its thread id), so untrusted bots
 * spinning on every core leave the cores to the event loop and the presets' workers first.
 * Elsewhere the call fails and the thread keeps its priority.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, UNTRUSTED_NICE);
  } catch {
    // not Linux, or no /proc: same priority as the rest
  }
}

/**
 * The first instance on a new thread takes ~20 ms (its JIT is cold), later ones ~2–5 ms: a thread
 * for inline code, started ahead of need (pool.ts), pays that before its bot arrives.
 */
async function warmUp(): Promise<void> {
  try {
    const warm = await BotInstance.load(wasm!, { code: "export default {}", botId: "warm-up", params: "{}", slots: "[]", seed: new Uint8Array(32), limits: DEFAULT_LIMITS });
    if ("instance" in warm) warm.instance.dispose();
  } catch {
    // a starved thread can run past the deadline even here; the bot's own load says what it must
  }
}

async function hook(request: Extract<WorkerRequest, { type: "hook" }>): Promise<void> {
  if (request.options && !bots.has(request.bot)) bots.set(request.bot, { options: request.options });
  const entry = bots.get(request.bot);
  const base = { type: "result" as const, id: request.id, ok: false as const, polls: 0, memoryBytes: 0, live: false };
  if (!entry) return reply({ ...base, reloaded: false, failure: { reason: "exception", message: "its worker does not host it" } });
  touch(request.bot);
  // Every hook starts from a clean budget: an instance left past its memory mark is never reused.
  if (entry.instance?.overHighWater) dropInstance(entry, true);
  else if (request.call.fresh && entry.instance) dropInstance(entry);
  const reloaded = entry.instance === undefined;
  if (reloaded) {
    const failure = await load(request.bot);
    if (failure) return reply({ ...base, reloaded, failure });
  }
  const instance = entry.instance!;
  let attempt: Attempt;
  try {
    attempt = instance.run(request.call);
  } catch (err) {
    // The engine itself failed (a wasm trap or abort): this instance is unusable whatever the cause.
    attempt = { ok: false, failure: instance.engineFault(err), polls: 0, memoryBytes: 0 };
  }
  if (instance.blown) dropInstance(entry, true);
  reply({ type: "result", id: request.id, reloaded, ...attempt, live: entry.instance !== undefined });
}

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case "engine":
      wasm = request.wasm;
      maxLive = request.maxLive;
      if (request.isolated) {
        // Warmed at full priority: niced first, on a busy host the warm-up itself took seconds.
        await warmUp();
        lowerThreadPriority();
      }
      return reply({ type: "up" });
    case "load": {
      const old = bots.get(request.bot);
      if (old?.instance) dropInstance(old);
      bots.set(request.bot, { options: request.options });
      const failure = await load(request.bot);
      const instance = bots.get(request.bot)!.instance;
      if (failure) bots.delete(request.bot);
      return reply({ type: "ready", id: request.id, failure, manifest: instance?.manifest ?? null, memoryBytes: instance?.memoryBytes ?? 0, live: instance !== undefined });
    }
    case "hook":
      return hook(request);
    case "drop": {
      const entry = bots.get(request.bot);
      if (entry?.instance) dropInstance(entry);
      bots.delete(request.bot);
      return;
    }
  }
}

let chain: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  chain = chain.then(() => handle(event.data));
};
