/**
 * The worker threads hosting every bot (host-worker.ts, worker.ts). Each bot is its own QuickJS
 * instance on its own capped wasm memory either way; what differs is whom it shares a thread with.
 *
 * - Built-in presets (code identical to a file in bots/) share a few workers, one per core: a worker
 *   costs ~4.4 MiB and an instance ~0.4 MiB. They read bounded inputs, so none runs long.
 * - Any other code runs on a worker of its own, started on demand and kept only while its instance
 *   is warm. QuickJS never polls inside a native call (a sort, a BigInt power, JSON of a big
 *   structure), so only terminating the thread stops one (test/unit/sandbox/abuse.test.ts): alone on its thread, a
 *   hostile bot neither delays another channel's bot nor, when killed, reloads it (a reload is
 *   written to that bot's own log; another channel's log must never change). Those threads run at
 *   a lower OS priority where the OS allows it, so however many spin, the presets' workers and the
 *   event loop get the cores first.
 * - Memory: the workers of their own and their instances, summed, stay within the warm set's bound
 *   (warm-set.ts); presets are bounded by count (SandboxEngine, `bot_warm_instances`).
 */
import { availableParallelism } from "node:os";
import { AppError } from "../errors.ts";
import { BotSlot, HostWorker, startWorker } from "./host-worker.ts";
import type { InstanceOptions } from "./instance.ts";
import { WarmSet } from "./warm-set.ts";

export { BotSlot } from "./host-worker.ts";
export type { PoolReply } from "./host-worker.ts";

/** Default `bot_warm_memory_mb`: ~48 warm bots of inline code (21 MiB each at least), ~27 hooks at their cap. */
export const DEFAULT_WARM_MEMORY_BYTES = 1024 * 1024 * 1024;

export interface BotPoolOptions {
  /** Shared worker threads for the presets; default one per CPU core (config `bot_workers`). */
  workers?: number;
  /** Live instances kept per shared worker; beyond, the least recently used is dropped (reloaded on use). */
  maxLivePerWorker?: number;
  /** Bytes the workers of their own and their instances may hold (config `bot_warm_memory_mb`). */
  warmMemoryBytes?: number;
}

export class BotPool {
  private readonly hosts: HostWorker[];
  private readonly isolated = new Set<HostWorker>();
  private readonly warm: WarmSet;
  /** A thread for the next bot of inline code, started ahead once the first one came. */
  private spare: Promise<Worker | undefined> | undefined;
  private nextKey = 1;

  constructor(options: BotPoolOptions = {}) {
    const workers = options.workers ?? Math.max(1, availableParallelism());
    const maxLive = options.maxLivePerWorker ?? 1024;
    if (!Number.isSafeInteger(workers) || workers < 1) throw new AppError("INVALID_REQUEST", `Invalid bot worker count ${workers}`);
    this.warm = new WarmSet(options.warmMemoryBytes ?? DEFAULT_WARM_MEMORY_BYTES);
    this.hosts = Array.from({ length: workers }, () => new HostWorker(maxLive));
  }

  /** Places a bot: on the least loaded shared worker, or (`isolated`) on a worker of its own. */
  attach(options: InstanceOptions, isolated: boolean): BotSlot {
    const key = this.nextKey++;
    let host: HostWorker;
    if (isolated) {
      const own: HostWorker = new HostWorker(1, { warm: this.warm, spare: () => this.takeSpare(), onReleased: () => this.isolated.delete(own) });
      this.isolated.add((host = own));
    } else {
      host = this.hosts.reduce((a, b) => (b.slots.size < a.slots.size ? b : a));
    }
    const slot = new BotSlot(key, options, host);
    host.slots.set(key, slot);
    return slot;
  }

  private takeSpare(): Promise<Worker | undefined> {
    const taken = this.spare ?? startWorker(1, true);
    this.spare = startWorker(1, true);
    return taken;
  }

  /** Bots per shared worker, for tests and benches. */
  get load(): number[] {
    return this.hosts.map((h) => h.slots.size);
  }

  /** Bytes the warm set counts now: at most its bound (a hook alone may run over it). */
  get warmBytes(): number {
    return this.warm.bytes;
  }

  /** Bots on workers of their own. */
  get isolatedBots(): number {
    return this.isolated.size;
  }

  dispose(): void {
    for (const host of [...this.hosts, ...this.isolated]) host.dispose();
    this.isolated.clear();
    void this.spare?.then((w) => w?.terminate());
    this.spare = undefined;
  }
}

let shared: BotPool | undefined;

/** The process-wide pool every engine uses unless given its own. */
export function defaultPool(): BotPool {
  return (shared ??= new BotPool());
}
