import { describe, expect, test } from "bun:test";
import { Notifier } from "../../../src/channels/index.ts";

describe("Notifier", () => {
  test("wait() resolves true when its channel is notified, and forgets the waiter", async () => {
    const n = new Notifier();
    const waiting = n.wait("chn_a", n.version("chn_a"), 10_000);
    expect(n.waiting).toBe(1);
    n.notify("chn_b");
    n.notify("chn_a");
    expect(await waiting).toBe(true);
    expect(n.waiting).toBe(0);
  });

  test("wait() resolves at once when news landed after the caller's read (no lost wake-up)", async () => {
    const n = new Notifier();
    const seen = n.version("chn_a");
    n.notify("chn_a");
    expect(await n.wait("chn_a", seen, 10_000)).toBe(true);
  });

  test("wait() resolves false on timeout and on abort", async () => {
    const n = new Notifier();
    expect(await n.wait("chn_a", 0, 5)).toBe(false);
    const ac = new AbortController();
    const waiting = n.wait("chn_a", 0, 10_000, ac.signal);
    ac.abort();
    expect(await waiting).toBe(false);
    expect(n.waiting).toBe(0);
  });
});
