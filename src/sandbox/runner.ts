/**
 * The main-thread side of one bot: owns its worker, its state, its hook sequence and its slot view,
 * and runs one hook at a time. A hook that does not answer within `terminateMs` (the bot is stuck in
 * a native call between two polls) has its worker terminated; the next hook starts a fresh worker.
 */
import { readdirSync } from "node:fs";
import { AppError } from "../errors.ts";
import { compiledEngine } from "./engine.ts";
import type { BotOutput } from "./host-api.ts";
import type { BotFailure, HookOutcome, InstanceOptions } from "./instance.ts";
import { BotManifestSchema, MAX_MANIFEST_CHARS, type BotManifest } from "./manifest.ts";
import { resolveLimits, type BotErrorReason, type SandboxLimits } from "./limits.ts";
import { parseSeed } from "./rng.ts";
import type { WorkerReply, WorkerRequest } from "./worker.ts";

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
}

/**
 * One hook call. `now` is the triggering message's ts (ISO 8601); `slots` replaces the view from now on.
 * `seq` and `state`, when given, replace the runner's own: a caller that derives the hook's random
 * stream from its trigger (channels use the message id) and keeps the state itself (in the store)
 * makes every hook a pure function of its inputs, so a warm runner and a replay agree.
 */
export type HookCall = { now: string; slots?: SlotView[]; seq?: number; state?: unknown } & (
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
  /** The bot module was evaluated again before this hook (after a broken limit). */
  reloaded: boolean;
}

export interface BotRunner extends Disposable {
  /** The module's `manifest` export, checked (manifest.ts), or null when it has none. */
  readonly manifest: BotManifest | null;
  runHook(call: HookCall): Promise<HookResult>;
  dispose(): void;
}

type Terminated = { type: "terminated"; reason: BotErrorReason };

let workerPath: string | undefined;

/**
 * The worker's entry. Under `bun run` it sits beside this file; inside a compiled binary every
 * module was bundled into the entry, import.meta.url names the binary, and the worker is a second
 * entrypoint somewhere under /$bunfs/root (where depends on the entrypoints' common folder).
 */
function workerEntry(): string {
  if (workerPath) return workerPath;
  const here = new URL("./worker.ts", import.meta.url);
  if (!here.pathname.startsWith("/$bunfs/")) return (workerPath = here.href);
  const root = "/$bunfs/root";
  const found = readdirSync(root, { recursive: true })
    .map(String)
    .find((p) => /(^|\/)sandbox\/worker\.js$/.test(p));
  if (!found) throw new AppError("INTERNAL_ERROR", "The bot sandbox worker is not in this binary: build it with src/sandbox/worker.ts as an entrypoint");
  return (workerPath = `${root}/${found}`);
}

function botError(botId: string, where: string, seq: number, failure: BotFailure): AppError {
  return new AppError("BOT_ERROR", `Bot "${botId}" failed in ${where} (${failure.reason}): ${failure.message}`, {
    detail: { reason: failure.reason, hook: where, seq },
  });
}

/**
 * Starts a bot: spawns its worker and evaluates its module there. Rejects with BOT_ERROR (reason
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
  const runner = new Runner(instance, limits, options.slots ?? [], JSON.stringify(options.state ?? null), seq);
  const failure = await runner.start();
  if (failure) {
    runner.dispose();
    throw botError(options.botId, "load", seq, failure);
  }
  return runner;
}

class Runner implements BotRunner {
  manifest: BotManifest | null = null;
  private worker: Worker | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private disposed = false;

  constructor(
    private readonly instance: InstanceOptions,
    private readonly limits: SandboxLimits,
    private slots: SlotView[],
    private state: string,
    private seq: number,
  ) {}

  /** Spawns the worker and loads the bot; the failure, if any, is the bot's. */
  async start(): Promise<BotFailure | undefined> {
    const wasm = await compiledEngine();
    // ref: false, so an idle bot never keeps the process alive (a pending hook's timer does).
    // Not smol: JSC's small heap made copying a 10 MB string out of the sandbox 5× slower.
    this.worker = new Worker(workerEntry(), { ref: false });
    const reply = await this.request({ type: "init", wasm, options: this.instance });
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

  private terminated(reply: WorkerReply | Terminated): BotFailure {
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
    let reloaded = false;
    if (!this.worker) {
      reloaded = true;
      const failure = await this.start();
      if (failure) {
        this.kill();
        return this.failed(call.hook, seq, failure, reloaded);
      }
    }
    const reply = await this.request({
      type: "hook",
      id: this.nextId++,
      hook: call.hook,
      args: JSON.stringify(args),
      slots: JSON.stringify(this.slots),
      slotIds: this.slots.map((s) => s.slot_id),
      now,
      seq,
      state: this.state,
    });
    if (reply.type !== "result") return this.failed(call.hook, seq, this.terminated(reply), reloaded);
    return this.finish(call.hook, seq, reply, reloaded || reply.reloaded);
  }

  private finish(hook: string, seq: number, outcome: HookOutcome, reloaded: boolean): HookResult {
    const usage = { polls: outcome.polls, memoryBytes: outcome.memoryBytes };
    if (outcome.error) return this.failed(hook, seq, outcome.error, reloaded, usage);
    this.state = outcome.state;
    return { seq, outputs: outcome.outputs, state: JSON.parse(this.state), ...usage, reloaded };
  }

  private failed(hook: string, seq: number, failure: BotFailure, reloaded: boolean, usage = { polls: 0, memoryBytes: 0 }): HookResult {
    return { seq, outputs: [], state: JSON.parse(this.state), error: botError(this.instance.botId, hook, seq, failure), ...usage, reloaded };
  }

  /** One request to the worker; on timeout or crash the worker is terminated and dropped. */
  private request(message: WorkerRequest): Promise<WorkerReply | Terminated> {
    const worker = this.worker!;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        resolve({ type: "terminated", reason: "deadline" });
      }, this.limits.terminateMs);
      worker.onmessage = (event: MessageEvent<WorkerReply>) => {
        clearTimeout(timer);
        resolve(event.data);
      };
      worker.onerror = () => {
        clearTimeout(timer);
        this.kill();
        resolve({ type: "terminated", reason: "exception" });
      };
      worker.postMessage(message);
    });
  }

  private kill(): void {
    this.worker?.terminate();
    this.worker = undefined;
  }

  dispose(): void {
    this.disposed = true;
    this.kill();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
