/**
 * One bot in one QuickJS runtime on its own wasm instance (engine.ts). Runs inside the worker; every
 * call here is synchronous once the instance exists, and every verdict but "deadline" depends only on
 * the code, the seed and the inputs, so a replay reaches the same one.
 *
 * Lifetimes: an instance survives a hook that threw (the bot's own exception); it is dropped after any
 * broken limit (its heap may be at the cap, jobs may be queued, and wasm memory never shrinks), and
 * the worker builds a fresh one from the same source before the next hook. The bot's state lives with
 * the host (ctx.getState / setState), so only module-level variables are lost; a replay drops at the
 * same hooks and loses the same.
 */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from "quickjs-emscripten-core";
import type { BotOutput, FetchRecord, HookCall } from "../transcript/index.ts";
import { newEngineInstance } from "./engine.ts";
import { newHostFunction, type HookSession } from "./host-api.ts";
import { HookMeter, WASM_PAGE_BYTES, type BotErrorReason, type SandboxLimits } from "./limits.ts";
import { PRELUDE } from "./prelude.ts";
import { createRng } from "./rng.ts";

export interface InstanceOptions {
  code: string;
  botId: string;
  /** The params as JSON text. */
  params: string;
  /** The slot view (BotProgram.slots) as JSON text: the same for every hook of the bot. */
  slots: string;
  seed: Uint8Array;
  limits: SandboxLimits;
}

/** Why an evaluation failed, in the sandbox's words; the engine (bot-engine.ts) words it for the transcript. */
export interface BotFailure {
  reason: BotErrorReason;
  message: string;
}

/**
 * What one run of a hook did: what the bot posted and its state (JSON text), or why it failed (a
 * hook is all or nothing: a failed one posts nothing and leaves the state as it was).
 */
export type Attempt = ({ ok: true; outputs: BotOutput[]; state: string } | { ok: false; failure: BotFailure }) & {
  /** Budget used, in polls. */
  polls: number;
  /** The instance's wasm memory after the hook (never above the cap). */
  memoryBytes: number;
};

/** Module top-level code runs at time 0 (the prelude's start) with random stream 0: the same on every (re)load. */
const LOAD_STREAM = 0;
const MAX_MESSAGE = 200;
/** The bot's module name inside the engine; its stack frames read `bot.js:LINE:COLUMN`. */
const MODULE_NAME = "bot.js";
const MODULE_PLACE = /\bbot\.js:(\d+):(\d+)/;

export class BotInstance {
  /** True once a limit broke: the worker must dispose this instance and load a fresh one. */
  blown = false;
  /** JSON of the module's `manifest` export, or null when it exports none (manifest.ts checks it). */
  manifest: string | null = null;
  private session: HookSession;
  /** The slots a bot may postTo (ctx.slots' ids), fixed for its life. */
  private readonly slotIds: ReadonlySet<string>;

  private constructor(
    private readonly runtime: QuickJSRuntime,
    private readonly vm: QuickJSContext,
    private readonly meter: HookMeter,
    private readonly options: InstanceOptions,
    private readonly api: { install: QuickJSHandle; dispatch: QuickJSHandle },
  ) {
    this.slotIds = new Set((JSON.parse(options.slots) as { slot_id: string }[]).map((s) => s.slot_id));
    this.session = this.newSession(LOAD_STREAM, "null");
  }

  /** Builds the instance and evaluates the bot module; a failure is returned, not thrown. */
  static async load(wasm: WebAssembly.Module, options: InstanceOptions): Promise<{ instance: BotInstance } | { error: BotFailure }> {
    const { limits } = options;
    const engine = await newEngineInstance(wasm, limits.memoryPages);
    const memoryCap = limits.memoryPages * WASM_PAGE_BYTES;
    // Blown when within 1/8 of the cap: QuickJS may survive an allocation failure that a bot caught.
    const meter = new HookMeter(limits, memoryCap - memoryCap / 8, () => engine.memory.buffer.byteLength);
    const runtime = engine.quickjs.newRuntime();
    runtime.setMemoryLimit(memoryCap);
    runtime.setMaxStackSize(limits.stackBytes);
    runtime.setInterruptHandler(meter.onInterrupt);
    const vm = runtime.newContext();
    let instance: BotInstance | undefined;
    meter.start();
    const host = newHostFunction(vm, limits, () => instance!.session);
    let api: { install: QuickJSHandle; dispatch: QuickJSHandle };
    try {
      const factory = vm.unwrapResult(vm.evalCode(PRELUDE, "prelude.js", { type: "global" }));
      const args = [host, vm.newString(options.botId), vm.newString(options.params)];
      const apiObj = vm.unwrapResult(vm.callFunction(factory, vm.undefined, ...args));
      factory.dispose();
      for (const h of args) h.dispose();
      api = { install: vm.getProp(apiObj, "install"), dispatch: vm.getProp(apiObj, "dispatch") };
      apiObj.dispose();
    } catch (err) {
      // The prelude runs under the bot's meter too: huge params can break a limit, and a starved
      // thread its deadline. That is the bot's failure (a deadline one is not replayable), not the engine's.
      meter.check();
      const thrown = err instanceof Error ? err.message : String(err);
      const failure = meter.fatal ? { ...meter.fatal } : /out of memory/i.test(thrown) ? { reason: "memory" as const, message: `ran out of memory (${thrown.slice(0, 80)})` } : undefined;
      if (!failure) throw err;
      return { error: failure }; // the whole wasm instance is dropped: nothing in it to free one by one
    }
    instance = new BotInstance(runtime, vm, meter, options, api);
    const error = instance.evaluateModule();
    if (error) {
      instance.dispose();
      return { error };
    }
    return { instance };
  }

  private newSession(stream: number, state: string, fetches: FetchRecord[] = []): HookSession {
    return { meter: this.meter, rng: createRng(this.options.seed, stream), outputs: [], state, slotIds: this.slotIds, fetches: new Map(fetches.map((f) => [f.url, f])) };
  }

  private evaluateModule(): BotFailure | undefined {
    const { vm } = this;
    this.meter.start();
    const result = vm.evalCode(this.options.code, MODULE_NAME, { type: "module" });
    const settled = this.settle(result);
    if ("error" in settled) return this.fail(settled.error, "load");
    const ns = settled.value;
    const installed = vm.callFunction(this.api.install, vm.undefined, ns);
    ns.dispose();
    if (installed.error) return this.fail(installed.error, "load");
    if (vm.typeof(installed.value) === "string") this.manifest = vm.getString(installed.value);
    installed.value.dispose();
    return this.afterRun();
  }

  /**
   * Runs one hook. The call was checked by the engine: `now` parses, `entropy` (the random stream,
   * rng.ts) is a hook number. Its arguments and the slot view reach the bot as JSON text it parses
   * under its own meter, and its state as the text it was given.
   */
  run(call: HookCall): Attempt {
    const { vm } = this;
    this.session = this.newSession(Number(call.entropy), call.state, call.fetches);
    this.meter.start();
    const args = [vm.newString(call.hook), vm.newString(JSON.stringify(call.args)), vm.newString(this.options.slots), vm.newNumber(Date.parse(call.now))];
    const result = vm.callFunction(this.api.dispatch, vm.undefined, ...args);
    for (const h of args) h.dispose();
    const settled = this.settle(result);
    let failure: BotFailure | undefined;
    if ("error" in settled) failure = this.fail(settled.error, "exception");
    else {
      settled.value.dispose();
      failure = this.afterRun();
    }
    const usage = { polls: this.meter.used, memoryBytes: this.meter.memoryBytes() };
    if (failure) return { ok: false, failure, ...usage };
    return { ok: true, outputs: this.session.outputs, state: this.session.state, ...usage };
  }

  /** Runs queued jobs and unwraps a returned promise; the handle in `value` is the caller's. */
  private settle(result: ReturnType<QuickJSContext["evalCode"]>): { value: QuickJSHandle } | { error: QuickJSHandle } {
    const { vm, runtime } = this;
    if (result.error) return { error: result.error };
    const value = result.value;
    // Jobs run under the same meter: 100k queued promises spend the budget like a loop would.
    while (runtime.hasPendingJob() && !this.meter.fatal) {
      const jobs = runtime.executePendingJobs();
      if (jobs.error) {
        value.dispose();
        return { error: jobs.error };
      }
    }
    const state = vm.getPromiseState(value);
    if (state.type === "fulfilled") {
      if (state.notAPromise) return { value };
      value.dispose();
      return { value: state.value };
    }
    value.dispose();
    if (state.type === "rejected") return { error: state.error };
    return { error: vm.newError("The hook's promise never settled") };
  }

  /** A limit broken without an error (memory grown inside a native call) still fails the hook. */
  private afterRun(): BotFailure | undefined {
    if (this.meter.check()) return this.fail(undefined, "exception");
    return undefined;
  }

  /**
   * The failure for a thrown value (disposed here); a broken limit wins over what was thrown. The
   * limits are checked here as on success: out of memory inside one native call (JSON.parse of a
   * huge text) throws before any poll, with the memory grown past its high-water mark for good. Left
   * undetected, the instance stayed and the next, innocent hook failed with "memory".
   */
  private fail(errorHandle: QuickJSHandle | undefined, fallback: BotErrorReason): BotFailure {
    // A module that does not load says where: its author's next step (such a module is refused at
    // attach, so it seldom reaches a log). Hook errors keep their text: transcripts record it, and a
    // replay of one written before must produce it word for word.
    const thrown = errorHandle ? this.describe(errorHandle, fallback === "load") : "";
    errorHandle?.dispose();
    this.meter.check();
    let failure: BotFailure;
    if (this.meter.fatal) failure = { ...this.meter.fatal };
    else if (/out of memory|string too long/i.test(thrown)) failure = { reason: "memory", message: `ran out of memory (${thrown.slice(0, 80)})` };
    else if (/stack overflow|call stack size/i.test(thrown)) failure = { reason: "stack", message: "overflowed its stack" };
    else failure = { reason: fallback, message: thrown.slice(0, MAX_MESSAGE) || "failed" };
    if (failure.reason !== "exception") this.blown = true;
    return failure;
  }

  /**
   * "Name: message" of a thrown value; with `placed`, "Name at line L, column C: message", the
   * innermost place in the bot's own source (the prelude is evaluated apart, so nothing shifts it).
   * A getter here is bot code, run under the same meter.
   */
  private describe(h: QuickJSHandle, placed = false): string {
    const { vm } = this;
    try {
      // QuickJS throws null when it cannot allocate even its own "out of memory" error.
      if (vm.typeof(h) !== "object" || vm.sameValue(h, vm.null)) return `Uncaught ${String(vm.dump(h)).slice(0, MAX_MESSAGE)}`;
      const read = (key: string) => {
        const p = vm.getProp(h, key);
        try {
          return vm.typeof(p) === "string" ? vm.getString(p) : "";
        } finally {
          p.dispose();
        }
      };
      const name = read("name");
      const message = read("message");
      const at = placed ? MODULE_PLACE.exec(read("stack")) : null;
      const where = at ? `at line ${at[1]}, column ${at[2]}` : "";
      if (name) return where ? `${name} ${where}: ${message}` : `${name}: ${message}`;
      return where ? `${where}: ${message}` : message;
    } catch {
      return "Uncaught exception";
    }
  }

  /**
   * The failure for an engine fault (a wasm trap or abort, thrown out of quickjs-emscripten): this
   * instance is unusable. A heap filled to the last byte makes the engine's own glue trap, so a
   * memory past its high-water mark names the cause.
   */
  engineFault(err: unknown): BotFailure {
    this.blown = true;
    this.meter.check();
    if (this.meter.fatal?.reason === "memory") return { ...this.meter.fatal };
    return { reason: "exception", message: `the engine aborted: ${err instanceof Error ? err.message : String(err)}`.slice(0, MAX_MESSAGE) };
  }

  /** The instance's wasm memory now, bytes (it never shrinks). */
  get memoryBytes(): number {
    return this.meter.memoryBytes();
  }

  /** Memory past the high-water mark: a hook must not start on this instance (it never shrinks). */
  get overHighWater(): boolean {
    return this.meter.memoryBytes() > this.meter.memoryHighWater;
  }

  dispose(): void {
    try {
      this.api.install.dispose();
      this.api.dispatch.dispose();
      this.vm.dispose();
      this.runtime.dispose();
    } catch {
      // A blown heap may fail QuickJS's own teardown asserts; the whole wasm instance goes with us anyway.
    }
  }
}
