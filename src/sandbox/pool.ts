/**
 * A few workers (worker.ts) host every bot: each bot is still its own QuickJS instance on its own
 * capped wasm memory, but a Bun worker costs ~4 MiB and an instance ~0.5 MiB, so bots share workers.
 *
 * - Assignment: a bot goes to the worker hosting the fewest bots, and stays there.
 * - Scheduling: each worker runs one request at a time; the rest wait here, in arrival order, so a
 *   bot's hooks stay ordered and the terminate timer only ever covers the request actually running.
 * - Backstop: a request not answered within its bot's terminateMs terminates the worker. Only that
 *   request fails ("deadline"); the worker's generation moves on, so every bot it hosted is reloaded
 *   on the fresh worker before its next request (hooks are pure: state and seq come with each call),
 *   and the requests still queued for it (other bots' hooks) run there unchanged.
 * - A bot that broke a memory limit has only its own instance dropped, inside the worker.
 */
import { readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { AppError } from "../errors.ts";
import { compiledEngine } from "./engine.ts";
import type { HookInput, InstanceOptions } from "./instance.ts";
import type { BotErrorReason } from "./limits.ts";
import type { WorkerReply, WorkerRequest } from "./worker.ts";

export type Terminated = { type: "terminated"; reason: BotErrorReason };
export type PoolReply = Exclude<WorkerReply, { type: "up" }> | Terminated;

export interface BotPoolOptions {
  /** Worker threads; default one per CPU core (the server passes config `bot_workers`). */
  workers?: number;
  /** Live instances kept per worker; beyond, the least recently used is dropped (reloaded on use). */
  maxLivePerWorker?: number;
}

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

/** One worker per core unless the operator says otherwise (config `bot_workers`, passed in by the server). */
function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/** One bot's place in the pool. */
export class BotSlot {
  /** The host generation that has this bot's options (-1: none yet). */
  generation = -1;
  released = false;

  constructor(
    readonly key: number,
    readonly options: InstanceOptions,
    readonly host: HostWorker,
  ) {}

  /** Evaluates the module on the host (ready, or terminated when the worker died meanwhile). */
  load(timeoutMs: number): Promise<PoolReply> {
    return this.host.submit(this, timeoutMs, (id) => ({ type: "load", id, bot: this.key, options: this.options }));
  }

  /** `fresh`: evaluate the module anew before this hook. */
  hook(input: HookInput, timeoutMs: number, fresh = false): Promise<PoolReply> {
    return this.host.submit(this, timeoutMs, (id, unknownHere) => ({ type: "hook", id, bot: this.key, ...input, fresh, ...(unknownHere ? { options: this.options } : {}) }));
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
  bots = 0;
  /** Bumped at each kill: bots loaded under an older generation are unknown to the current worker. */
  generation = 0;
  private worker: Promise<Worker | undefined> | undefined;
  private readonly queue: Job[] = [];
  private running: { id: number; done(reply: PoolReply): void } | undefined;
  private nextId = 1;

  constructor(private readonly maxLive: number) {}

  submit(slot: BotSlot, timeoutMs: number, build: Job["build"]): Promise<PoolReply> {
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
      if (job.slot.released) job.reject(new AppError("INTERNAL_ERROR", "The bot runner is disposed"));
      else job.resolve(await this.run(job));
    } catch (err) {
      job.reject(err);
    }
    this.running = undefined;
    void this.pump();
  }

  private async run(job: Job): Promise<PoolReply> {
    const worker = await this.spawn();
    if (!worker) return { type: "terminated", reason: "exception" };
    const generation = this.generation;
    const id = this.nextId++;
    const request = job.build(id, job.slot.generation !== generation);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        resolve({ type: "terminated", reason: "deadline" });
      }, job.timeoutMs);
      this.running = {
        id,
        done: (reply) => {
          clearTimeout(timer);
          if (reply.type !== "terminated") job.slot.generation = generation;
          resolve(reply);
        },
      };
      worker.postMessage(request);
    });
  }

  /** The live worker, started (and given the engine) on first use and after a kill. */
  private spawn(): Promise<Worker | undefined> {
    if (this.worker) return this.worker;
    const started: Promise<Worker | undefined> = compiledEngine().then(
      (wasm) =>
        new Promise<Worker | undefined>((resolve) => {
          // ref: false, so idle bots never keep the process alive (a pending hook's timer does).
          // Not smol: JSC's small heap made copying a 10 MB string out of the sandbox 5× slower.
          const worker = new Worker(workerEntry(), { ref: false });
          let up = false;
          worker.onmessage = (event: MessageEvent<WorkerReply>) => {
            const reply = event.data;
            if (reply.type === "up") {
              up = true;
              return resolve(worker);
            }
            if (this.running?.id === reply.id) this.running.done(reply);
          };
          worker.onerror = () => {
            if (this.worker !== started) return; // an old worker's last words
            this.kill();
            if (!up) resolve(undefined);
            this.running?.done({ type: "terminated", reason: "exception" });
          };
          worker.postMessage({ type: "engine", wasm, maxLive: this.maxLive } satisfies WorkerRequest);
        }),
    );
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

  release(slot: BotSlot): void {
    this.bots--;
    if (slot.generation === this.generation && this.worker) {
      void this.worker.then((w) => w?.postMessage({ type: "drop", bot: slot.key } satisfies WorkerRequest));
    }
  }

  dispose(): void {
    this.kill();
  }
}

export class BotPool {
  private readonly hosts: HostWorker[];
  private nextKey = 1;

  constructor(options: BotPoolOptions = {}) {
    const workers = options.workers ?? defaultWorkers();
    const maxLive = options.maxLivePerWorker ?? 1024;
    if (!Number.isSafeInteger(workers) || workers < 1) throw new AppError("INVALID_REQUEST", `Invalid bot worker count ${workers}`);
    this.hosts = Array.from({ length: workers }, () => new HostWorker(maxLive));
  }

  /** Places a bot on the least loaded worker. */
  attach(options: InstanceOptions): BotSlot {
    const host = this.hosts.reduce((a, b) => (b.bots < a.bots ? b : a));
    host.bots++;
    return new BotSlot(this.nextKey++, options, host);
  }

  /** Bots per worker, for tests and benches. */
  get load(): number[] {
    return this.hosts.map((h) => h.bots);
  }

  dispose(): void {
    for (const host of this.hosts) host.dispose();
  }
}

let shared: BotPool | undefined;

/** The process-wide pool every runner uses unless given its own. */
export function defaultPool(): BotPool {
  return (shared ??= new BotPool());
}
