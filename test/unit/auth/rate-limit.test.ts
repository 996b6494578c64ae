import { describe, expect, test } from "bun:test";
import { BackoffLimiter, RateLimiter } from "../../../src/auth/rate-limit.ts";

describe("BackoffLimiter", () => {
  test("after 10 wrong passcodes the right one is refused during the wait and accepted once it has passed", () => {
    const limiter = new BackoffLimiter(1000, 60_000);
    let now = 1_000_000;
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      // Each attempt waits out the previous backoff: 0, then 1, 2, 4, … s, capped at 60 s.
      now += limiter.retryAfter("10.0.0.1", now) * 1000;
      expect(limiter.retryAfter("10.0.0.1", now)).toBe(0);
      limiter.recordFailure("10.0.0.1", now);
      waits.push(limiter.retryAfter("10.0.0.1", now));
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    // Another address is never affected, at any point.
    expect(limiter.retryAfter("10.0.0.2", now)).toBe(0);
    // Within the wait every attempt, the right passcode included, is refused unchecked.
    expect(limiter.retryAfter("10.0.0.1", now + 59_000)).toBe(1);
    // After it, the attempt is checked; a success clears the count: the next typo waits 1 s.
    expect(limiter.retryAfter("10.0.0.1", now + 60_000)).toBe(0);
    limiter.recordSuccess("10.0.0.1");
    limiter.recordFailure("10.0.0.1", now + 61_000);
    expect(limiter.retryAfter("10.0.0.1", now + 61_000)).toBe(1);
  });

  test("a key quiet for the forget window starts over, and memory stays bounded", () => {
    const limiter = new BackoffLimiter(1000, 60_000, 15 * 60_000);
    for (let i = 0; i < 8; i++) limiter.recordFailure("k", i * 70_000);
    expect(limiter.retryAfter("k", 8 * 70_000)).toBe(0);
    const quiet = 7 * 70_000 + 15 * 60_000;
    expect(limiter.retryAfter("k", quiet)).toBe(0);
    expect(limiter.size).toBe(0);
    limiter.recordFailure("k", quiet);
    expect(limiter.retryAfter("k", quiet)).toBe(1);

    const many = new BackoffLimiter();
    for (let i = 0; i < 25_000; i++) many.recordFailure(`a${i}`, 1000 + i);
    expect(many.size).toBeLessThanOrEqual(10_000);
    // The most recent guesser is still held back.
    expect(many.retryAfter("a24999", 1000 + 24_999)).toBe(1);
  });
});

describe("RateLimiter", () => {
  test("allows a burst of `capacity`, then one per 1/perSecond, per key, with the seconds to wait", () => {
    const bucket = new RateLimiter(3, 0.5);
    expect([0, 1, 2, 3].map(() => bucket.take("a", 0))).toEqual([0, 0, 0, 2]);
    expect(bucket.take("b", 0)).toBe(0);
    expect(bucket.take("a", 1000)).toBe(1);
    expect(bucket.take("a", 2000)).toBe(0);
    expect(bucket.take("a", 2000)).toBe(2);
    // Refill never exceeds the capacity.
    expect([0, 1, 2, 3].map(() => bucket.take("a", 1_000_000))).toEqual([0, 0, 0, 2]);
  });

  test("memory stays bounded under many addresses, dropping full buckets first", () => {
    const bucket = new RateLimiter(2, 1);
    for (let i = 0; i < 25_000; i++) bucket.take(`k${i}`, i);
    expect(bucket.size).toBeLessThanOrEqual(10_000);
    bucket.take("hot", 30_000);
    bucket.take("hot", 30_000);
    expect(bucket.take("hot", 30_000)).toBe(1);
  });
});
