/**
 * Wakes waiting sync_messages calls when their channel gets a message. In-process only: the
 * server is one process, and waiters re-read the store after waking, so a missed wake-up costs
 * at most one timeout, never a message.
 */
export class Notifier {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Bumped on every notify; lets a caller detect news that landed between its read and its wait. */
  private readonly versions = new Map<string, number>();

  version(channelId: string): number {
    return this.versions.get(channelId) ?? 0;
  }

  /** Standing listeners (resource subscriptions), called on every notify of their channel. */
  private readonly listeners = new Map<string, Set<() => void>>();

  /** Calls `fn` after each new message in the channel until the returned function is called. */
  listen(channelId: string, fn: () => void): () => void {
    let set = this.listeners.get(channelId);
    if (!set) this.listeners.set(channelId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.listeners.get(channelId) === set) this.listeners.delete(channelId);
    };
  }

  notify(channelId: string): void {
    this.versions.set(channelId, this.version(channelId) + 1);
    for (const fn of this.listeners.get(channelId) ?? []) fn();
    const set = this.waiters.get(channelId);
    if (!set) return;
    this.waiters.delete(channelId);
    for (const wake of set) wake();
  }

  /**
   * Resolves true when the channel is notified after `seenVersion` (at once if that already
   * happened), false on timeout or abort.
   */
  wait(channelId: string, seenVersion: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.version(channelId) !== seenVersion) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let set = this.waiters.get(channelId);
      if (!set) this.waiters.set(channelId, (set = new Set()));
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const current = this.waiters.get(channelId);
        if (current?.delete(wake) && current.size === 0) this.waiters.delete(channelId);
        resolve(woken);
      };
      const wake = () => finish(true);
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      set.add(wake);
    });
  }

  /** Number of calls currently waiting (for health and tests). */
  get waiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }
}
