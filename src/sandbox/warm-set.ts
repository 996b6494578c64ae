/**
 * The memory bound of the warm pool (config `bot_warm_memory_mb`): what every loaded bot instance,
 * and every worker thread of its own, may hold at most, summed, least recently used let go beyond.
 * A bot let go reloads at its next hook, and the channel records that (`bot:reload`), as for any
 * other reload; count alone (`bot_warm_instances`) let 256 bots of 28 MiB each hold 7 GiB.
 *
 * What a member costs is what it may keep resident, never less (wasm memory never shrinks, and a
 * page a bot touched once stays resident):
 * - inline code: its whole wasm memory (16 MiB at least: which of its pages it touched is not
 *   observable) plus its own worker thread; while a hook runs, its memory cap instead, since one
 *   hook may grow it that far. A hook that finds no room waits until a running one ends.
 * - a built-in preset (shared workers): a measured ~0.4 MiB, plus any growth past the initial
 *   memory. Presets read bounded inputs (a 64 KiB message, a 64 KiB state), so they never wait.
 */
import { MIN_MEMORY_PAGES, WASM_PAGE_BYTES } from "./limits.ts";

/** RSS growth per warm EchoBot on a shared worker (bench (j): ~400 KiB), rounded up. */
export const SHARED_INSTANCE_BYTES = 512 * 1024;
/** RSS of a worker thread hosting one bot, its instance aside (measured ~4.4 MiB), rounded up. */
export const WORKER_BYTES = 5 * 1024 * 1024;
const INITIAL_MEMORY_BYTES = MIN_MEMORY_PAGES * WASM_PAGE_BYTES;

/** One bot's place in the set. */
export interface WarmMember {
  /** Bytes counted for it now (0: nothing of it is loaded). */
  cost: number;
  /** A hook of it is running (sent to its worker): a running member is never let go. */
  running: boolean;
  /** Lets its instance (and its own worker, if any) go; its next hook reloads it. */
  evict(): void;
}

/** The cost of a member: `memoryBytes` of its live instance (null: none), on its own worker or not. */
export function memberCost(isolated: boolean, memoryBytes: number | null, workerAlive: boolean): number {
  if (isolated) return (workerAlive ? WORKER_BYTES : 0) + (memoryBytes ?? 0);
  return memoryBytes === null ? 0 : SHARED_INSTANCE_BYTES + Math.max(0, memoryBytes - INITIAL_MEMORY_BYTES);
}

export class WarmSet {
  /** Members with a cost, least recently used first. */
  private readonly order = new Set<WarmMember>();
  private total = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly budget: number) {}

  /** Bytes counted now (members' costs, running hooks at their caps). */
  get bytes(): number {
    return this.total;
  }

  /** Marks a member most recently used. */
  use(m: WarmMember): void {
    if (!this.order.has(m)) return;
    this.order.delete(m);
    this.order.add(m);
  }

  /** Sets a member's cost, then lets the least recently used idle ones go while over the budget. */
  set(m: WarmMember, cost: number): void {
    this.account(m, cost);
    this.trim(m);
    this.wake();
  }

  /**
   * Makes room for `peak` bytes (what the member may reach during the hook about to run) and counts
   * it: lets idle members go, and waits while running hooks hold the rest. Running hooks always end
   * (the worker kill backstops them), so a waiter always gets its turn; with no other hook running
   * it proceeds even over the budget (a budget below one cap still runs hooks, one at a time).
   */
  async reserve(m: WarmMember, peak: number): Promise<void> {
    for (;;) {
      this.trim(m, peak - m.cost);
      if (this.total - m.cost + peak <= this.budget) break;
      if (![...this.order].some((o) => o !== m && o.running)) break;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.account(m, Math.max(m.cost, peak));
  }

  /** Forgets a member (its runner is gone). */
  remove(m: WarmMember): void {
    this.account(m, 0);
    this.wake();
  }

  private account(m: WarmMember, cost: number): void {
    this.total += cost - m.cost;
    m.cost = cost;
    if (cost === 0) this.order.delete(m);
    else if (!this.order.has(m)) this.order.add(m);
  }

  /** Lets idle members go, least recently used first, until `extra` more bytes fit (or none is idle). */
  private trim(keep: WarmMember, extra = 0): void {
    for (const m of this.order) {
      if (this.total + extra <= this.budget) return;
      if (m === keep || m.running) continue;
      m.evict();
      this.account(m, 0);
    }
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
