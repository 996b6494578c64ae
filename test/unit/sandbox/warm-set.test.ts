import { describe, expect, test } from "bun:test";
import { WarmSet, type WarmMember } from "../../../src/sandbox/warm-set.ts";

/**
 * The warm set's accounting alone (pool.test.ts runs it with real threads): least recently used
 * idle members go first, running ones never, and a hook that finds no room waits for a running one.
 */
const MiB = 2 ** 20;

function member(name: string, evicted: string[]): WarmMember {
  return { cost: 0, running: false, evict: () => evicted.push(name) };
}

/** Resolves to true if `p` settled within a few turns of the event loop. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe("the warm set of inline bots", () => {
  test("over its bound, the least recently used idle members are let go, never a running one", () => {
    const evicted: string[] = [];
    const set = new WarmSet(100 * MiB);
    const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => member(n, evicted)) as [WarmMember, WarmMember, WarmMember, WarmMember];
    for (const m of [a, b, c]) set.set(m, 30 * MiB);
    set.use(a); // order now b, c, a
    b.running = true;
    set.set(d, 30 * MiB);
    expect(evicted).toEqual(["c"]);
    expect(set.bytes).toBe(90 * MiB);
    expect([a.cost, b.cost, c.cost, d.cost]).toEqual([30 * MiB, 30 * MiB, 0, 30 * MiB]);
  });

  test("a reservation lets idle members go; with only running ones left it waits until one ends", async () => {
    const evicted: string[] = [];
    const set = new WarmSet(100 * MiB);
    const [idle, busy, next] = ["idle", "busy", "next"].map((n) => member(n, evicted)) as [WarmMember, WarmMember, WarmMember];
    set.set(idle, 40 * MiB);
    await set.reserve(busy, 60 * MiB);
    busy.running = true;
    const waiting = set.reserve(next, 60 * MiB);
    expect(evicted).toEqual(["idle"]);
    expect(await settled(waiting)).toBe(false);
    busy.running = false;
    set.set(busy, 25 * MiB); // its hook ended, holding less than its cap: now 25 + 60 fit
    await waiting;
    expect(set.bytes).toBe(85 * MiB);
    expect(evicted).toEqual(["idle"]);
  });

  test("a reservation larger than the bound proceeds when nothing else runs; removing a member frees its bytes", async () => {
    const evicted: string[] = [];
    const set = new WarmSet(32 * MiB);
    const big = member("big", evicted);
    await set.reserve(big, 37 * MiB);
    expect(set.bytes).toBe(37 * MiB);
    set.remove(big);
    expect(set.bytes).toBe(0);
  });

  test("a reservation marks its member running at once: two waiters woken together never evict each other", async () => {
    const evicted: string[] = [];
    const set = new WarmSet(64 * MiB);
    const [busy, a, b] = ["busy", "a", "b"].map((n) => member(n, evicted)) as [WarmMember, WarmMember, WarmMember];
    await set.reserve(busy, 37 * MiB);
    busy.running = true;
    const first = set.reserve(a, 37 * MiB);
    const second = set.reserve(b, 37 * MiB);
    busy.running = false;
    set.set(busy, 0); // its hook ended and its worker went: both waiters wake in the same turn
    await first;
    // `a` holds its reservation: `b` waits for it instead of evicting it and running beside it.
    expect(a.running).toBe(true);
    expect(await settled(second)).toBe(false);
    expect(evicted).toEqual([]);
    expect(set.bytes).toBe(37 * MiB);
    a.running = false;
    set.set(a, 20 * MiB); // its hook ended holding 20 MiB: now 20 + 37 fit
    await second;
    expect(evicted).toEqual([]);
    expect(set.bytes).toBe(57 * MiB);
  });
});
