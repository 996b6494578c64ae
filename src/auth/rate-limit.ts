/**
 * Counts failures per key in a sliding window; once `max` failures fall inside the window the key
 * is limited until the oldest ages out. Memory stays bounded: stale keys are dropped on the way.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  isLimited(key: string, now = Date.now()): boolean {
    return this.recent(key, now).length >= this.max;
  }

  recordFailure(key: string, now = Date.now()): void {
    const list = this.recent(key, now);
    list.push(now);
    this.failures.set(key, list);
    if (this.failures.size > 10_000) this.sweep(now);
  }

  /** Seconds until the key may try again. */
  retryAfter(key: string, now = Date.now()): number {
    const list = this.recent(key, now);
    return list.length ? Math.ceil((list[0]! + this.windowMs - now) / 1000) : 0;
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    return list;
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}
