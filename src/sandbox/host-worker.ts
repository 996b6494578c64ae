/**
 * One worker thread (worker.ts) and the queue of requests for the bots it hosts.
 *
 * - Scheduling: the worker runs one request at a time; the rest wait here, in arrival order, so a
 *   bot's hooks stay ordered and the terminate timer only ever covers the request actually running.
 * - Backstop: a request not answered within its bot's terminateMs terminates the worker. Only that
 *   request fails ("deadline"); the generation moves on, so every bot the worker hosted is reloaded
 *   on the fresh worker before its next request (hooks are pure: state and seq come with each call),
 *   and the requests still queued (other bots' hooks, on a shared worker) run there unchanged.
 * - A worker of its own (one bot of inline code) is a member of the pool's warm set (warm-set.ts):
 *   before each request it waits there for room, counted at its cap, and each answer reports the
 *   bot's memory. Letting it go terminates the thread.
 */
import { readdirSync } from "node:fs";
import { AppError } from "../errors.ts";
import { compiledEngine } from "./engine.ts";
import type { HookCall } from "../transcript/index.ts";
import type { InstanceOptions } from "./instance.ts";
import { WASM_PAGE_BYTES, type BotErrorReason } from "./limits.ts";
import { WORKER_BYTES, type WarmMember, type WarmSet } from "./warm-set.ts";
import type { WorkerReply, WorkerRequest } from "./worker.ts";

export type Terminated = { type: "terminated"; reason: BotErrorReason };
export type PoolReply = Exclude<WorkerReply, { type: "up" }> | Terminated;

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

/**
 * A worker thread given the engine; resolves once it is up (undefined if it failed to start).
 * `isolated`: it will host one bot of inline code.
 */
export function startWorker(maxLive: number, isolated: boolean): Promise<Worker | undefined> {
  return compiledEngine().then(
    (wasm) =>
      new Promise<Worker | undefined>((resolve) => {
        // ref: false, so idle bots never keep the process alive (a pending hook's timer does).
        // Not smol: JSC's small heap made copying a 10 MB string out of the sandbox 5× slower.
        const worker = new Worker(workerEntry(), { ref: false });
        worker.onmessage = (event: MessageEvent<WorkerReply>) => {
          if (event.data.type === "up") resolve(worker);
        };
        worker.onerror = () => {
          worker.terminate();
          resolve(undefined);
        };
        worker.postMessage({ type: "engine", wasm, maxLive, isolated } satisfies WorkerRequest);
      }),
  );
}

/** One bot's place in the pool: on a shared worker, or alone on a worker of its own (then a warm-set member). */
export class BotSlot implements WarmMember {
  /** The host generation that has this bot's options (-1: none yet). */
  generation = -1;
  released = false;
  cost = 0;
  running = false;

  constructor(
    readonly key: number,
    readonly options: InstanceOptions,
    readonly host: HostWorker,
  ) {}

  /** Evaluates the module on the host (ready, or terminated when the worker died meanwhile). */
  load(timeoutMs: number): Promise<PoolReply> {
    return this.host.submit(this, timeoutMs, (id) => ({ type: "load", id, bot: this.key, options: this.options }));
  }

  /** Runs one attempt of a hook (`call.fresh`: evaluate the module anew first). */
  hook(call: HookCall, timeoutMs: number): Promise<PoolReply> {
    return this.host.submit(this, timeoutMs, (id, unknownHere) => ({ type: "hook", id, bot: this.key, call, ...(unknownHere ? { options: this.options } : {}) }));
  }

  /** Lets its own worker go (the warm set is over its bound); the next hook reloads the bot on a new one. */
  evict(): void {
    this.host.evict();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.host.release(this);
  }
}

interface Job {
  slot: BotSlot;
  timeoutMs: number;
  /** `unknownHere`: the current worker generation has not loaded this bot (send its options). */
  build(id: number, unknownHere: boolean): WorkerRequest;
  resolve(reply: PoolReply): void;
  reject(err: unknown): void;
}

export class HostWorker {
  /** Bots placed here (shared workers balance on it). */
  readonly slots = new Map<number, BotSlot>();
  /** Bumped at each kill: bots loaded under an older generation are unknown to the current worker. */
  generation = 0;
  private worker: Promise<Worker | undefined> | undefined;
  private readonly queue: Job[] = [];
  private running: { id: number; done(reply: PoolReply): void } | undefined;
  private nextId = 1;

  constructor(
    private readonly maxLive: number,
    /**
     * Given for a worker of its own (one bot of inline code): its warm set, where it gets a thread
     * (started ahead: a start costs ~20–40 ms), and what to do when its bot is released.
     */
    private readonly own?: { warm: WarmSet; spare(): Promise<Worker | undefined>; onReleased(): void },
  ) {}

  submit(slot: BotSlot, timeoutMs: number, build: Job["build"]): Promise<PoolReply> {
    this.own?.warm.use(slot);
    return new Promise((resolve, reject) => {
      this.queue.push({ slot, timeoutMs, build, resolve, reject });
      if (!this.running) void this.pump();
    });
  }

  private async pump(): Promise<void> {
    const job = this.queue.shift();
    if (!job) return;
    this.running = { id: 0, done: () => {} };
    try {
      if (job.slot.released) job.reject(new AppError("INTERNAL_ERROR", "The bot was let go"));
      else job.resolve(await this.run(job));
    } catch (err) {
      job.reject(err);
    }
    this.running = undefined;
    void this.pump();
  }

  private async run(job: Job): Promise<PoolReply> {
    const { slot } = job;
    if (this.own) {
      // Marks the slot running once its bytes are counted (warm-set.ts).
      await this.own.warm.reserve(slot, WORKER_BYTES + slot.options.limits.memoryPages * WASM_PAGE_BYTES);
      if (slot.released) {
        // Released while it waited.
        slot.running = false;
        this.own.warm.remove(slot);
      }
    }
    if (slot.released) throw new AppError("INTERNAL_ERROR", "The bot was let go");
    slot.running = true;
    try {
      const worker = await this.spawn();
      if (!worker) return { type: "terminated", reason: "exception" };
      const generation = this.generation;
      const id = this.nextId++;
      const request = job.build(id, slot.generation !== generation);
      const reply = await new Promise<PoolReply>((resolve) => {
        const timer = setTimeout(() => {
          this.kill();
          resolve({ type: "terminated", reason: "deadline" });
        }, job.timeoutMs);
        this.running = {
          id,
          done: (reply) => {
            clearTimeout(timer);
            if (reply.type !== "terminated") slot.generation = generation;
            resolve(reply);
          },
        };
        worker.postMessage(request);
      });
      this.account(slot, reply);
      return reply;
    } finally {
      slot.running = false;
    }
  }

  /** What a worker of its own holds now: the thread, and the bot's instance if still loaded. */
  private account(slot: BotSlot, reply: PoolReply): void {
    if (!this.own || slot.released) return;
    const cost = reply.type === "terminated" ? 0 : WORKER_BYTES + (reply.live ? reply.memoryBytes : 0);
    this.own.warm.set(slot, cost);
  }

  /** The live worker, started (and given the engine) on first use and after a kill. */
  private spawn(): Promise<Worker | undefined> {
    if (this.worker) return this.worker;
    const started: Promise<Worker | undefined> = (this.own ? this.own.spare() : startWorker(this.maxLive, false)).then((worker) => {
      if (!worker) {
        if (this.worker === started) this.kill();
        return undefined;
      }
      worker.onmessage = (event: MessageEvent<PoolReply>) => {
        const reply = event.data;
        if (reply.type !== "terminated" && this.running?.id === reply.id) this.running.done(reply);
      };
      worker.onerror = () => {
        if (this.worker !== started) return; // an old worker's last words
        this.kill();
        this.running?.done({ type: "terminated", reason: "exception" });
      };
      return worker;
    });
    return (this.worker = started);
  }

  /** Terminates the worker: every bot it hosted reloads on the next one. */
  private kill(): void {
    const dying = this.worker;
    if (!dying) return;
    this.worker = undefined;
    this.generation++;
    void dying.then((w) => w?.terminate());
  }

  /** Called by the warm set (which then counts the bot at 0): the thread goes with the bot's instance. */
  evict(): void {
    this.kill();
  }

  release(slot: BotSlot): void {
    this.slots.delete(slot.key);
    if (this.own) {
      this.own.warm.remove(slot);
      this.kill();
      return this.own.onReleased();
    }
    if (slot.generation === this.generation && this.worker) {
      void this.worker.then((w) => w?.postMessage({ type: "drop", bot: slot.key } satisfies WorkerRequest));
    }
  }

  dispose(): void {
    this.kill();
  }
}
