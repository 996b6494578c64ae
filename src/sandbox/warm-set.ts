/**
 * The memory bound of the bots of inline code (config `bot_warm_memory_mb`): each runs on a worker
 * thread of its own (pool.ts), and together their threads and instances hold at most the bound; the
 * least recently used are let go beyond it. A bot let go reloads at its next hook, and its channel
 * records that (`bot:reload`), as for any other reload. Count alone (`bot_warm_instances`) let 256
 * bots of 28 MiB each hold 7 GiB.
 *
 * A member counts what it may keep resident, never less: its worker thread, and its whole wasm
 * memory (16 MiB at least; which pages a bot touched is not observable, and a page touched once stays
 * resident, since wasm memory never shrinks); while a hook runs, its memory cap instead, since one
 * hook may grow it that far. A hook that finds no room waits until a running one ends.
 *
 * Presets are not members: they share the pool's workers, cost ~0.4 MiB each and read bounded inputs
 * (a 64 KiB message, a 64 KiB state), so `bot_warm_instances` bounds them; and no amount of inline
 * code can push a preset out to make room (a reload written into that preset's channel).
 */

/** RSS of a worker thread hosting one bot, its instance aside (measured ~4.4 MiB), rounded up. */
export const WORKER_BYTES = 5 * 1024 * 1024;

/** One bot of inline code, on its worker. */
export interface WarmMember {
  /** Bytes counted for it now (0: its worker is gone). */
  cost: number;
  /** A hook of it is running (sent to its worker): a running member is never let go. */
  running: boolean;
  /** Lets its worker (and the instance on it) go; its next hook reloads it on a new one. */
  evict(): void;
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
    // In the same step as its bytes are counted: another waiter woken with it must not let it go.
    m.running = true;
  }

  /** Forgets a member (its bot was let go). */
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
