/**
 * Per-address limits of the OAuth endpoints, in memory. Each map is bounded (MAX_KEYS): when it
 * overflows, keys that carry no restriction any more go first, then the least recently used.
 * Forgetting a key only ever lifts a limit early, so the bound costs safety only to an attacker
 * who already holds more than MAX_KEYS addresses.
 */
const MAX_KEYS = 10_000;

/**
 * Token bucket per key: `capacity` requests at once, then `perSecond` on average. Counts every
 * request, answered or refused by the endpoint, since each costs its work.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
  ) {}

  /** Takes one request's token; returns 0 if the request may proceed, else the seconds until it may. */
  take(key: string, now = Date.now()): number {
    const bucket = this.buckets.get(key);
    const tokens = bucket ? Math.min(this.capacity, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond) : this.capacity;
    if (tokens < 1) return Math.ceil((1 - tokens) / this.perSecond);
    // Re-inserted, so the map's order is least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.buckets.size > MAX_KEYS) this.evict(now);
    return 0;
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.capacity) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= MAX_KEYS * 0.9) break;
      this.buckets.delete(key);
    }
  }
}

/**
 * Failed attempts (wrong passcodes) per key, with exponential backoff instead of a lock: after n
 * consecutive failures the key's next attempt is looked at only min(base · 2^(n-1), cap) after
 * the last one. Every attempt inside the wait is refused unchecked, the right passcode included,
 * or the wait could be used to test passcodes. A success clears the key; a key quiet for
 * `forgetMs` starts over. Behind a shared address one guesser still delays the others, but by
 * at most `cap` per attempt, not for ten minutes.
 */
export class BackoffLimiter {
  private readonly keys = new Map<string, { failures: number; last: number }>();

  constructor(
    private readonly baseMs = 1000,
    private readonly capMs = 60_000,
    private readonly forgetMs = 15 * 60_000,
  ) {}

  /** Seconds until the key's next attempt will be checked; 0 = now. */
  retryAfter(key: string, now = Date.now()): number {
    const entry = this.keys.get(key);
    if (!entry) return 0;
    const until = entry.last + this.delayMs(entry.failures);
    if (now >= until) {
      if (now - entry.last >= this.forgetMs) this.keys.delete(key);
      return 0;
    }
    return Math.ceil((until - now) / 1000);
  }

  recordFailure(key: string, now = Date.now()): void {
    const entry = this.keys.get(key);
    const failures = entry && now - entry.last < this.forgetMs ? entry.failures + 1 : 1;
    this.keys.delete(key);
    this.keys.set(key, { failures, last: now });
    if (this.keys.size > MAX_KEYS) this.evict(now);
  }

  recordSuccess(key: string): void {
    this.keys.delete(key);
  }

  get size(): number {
    return this.keys.size;
  }

  private delayMs(failures: number): number {
    return Math.min(this.baseMs * 2 ** (failures - 1), this.capMs);
  }

  private evict(now: number): void {
    for (const [key, e] of this.keys) if (now - e.last >= this.forgetMs) this.keys.delete(key);
    for (const key of this.keys.keys()) {
      if (this.keys.size <= MAX_KEYS * 0.9) break;
      this.keys.delete(key);
    }
  }
}
