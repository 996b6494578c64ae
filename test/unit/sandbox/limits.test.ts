import { describe, expect, test } from "bun:test";
import { AppError } from "../../../src/errors.ts";
import { DEFAULT_LIMITS, HookMeter, resolveLimits, TICKS_PER_POLL } from "../../../src/sandbox/limits.ts";

describe("resolveLimits()", () => {
  test("fills defaults and keeps overrides", () => {
    expect(resolveLimits()).toEqual({ ...DEFAULT_LIMITS });
    expect(resolveLimits({ budgetPolls: 50 }).budgetPolls).toBe(50);
  });

  test("refuses non-positive values and memory below the wasm build's 256 pages", () => {
    for (const bad of [{ budgetPolls: 0 }, { deadlineMs: -1 }, { stackBytes: 1.5 }, { memoryPages: 255 }]) {
      expect(() => resolveLimits(bad)).toThrow(AppError);
    }
  });
});

describe("HookMeter", () => {
  const limits = resolveLimits({ budgetPolls: 3, deadlineMs: 60_000 });

  test("interrupts after budgetPolls polls, and keeps interrupting", () => {
    const meter = new HookMeter(limits, 1 << 30, () => 0);
    meter.start();
    expect([meter.onInterrupt(), meter.onInterrupt(), meter.onInterrupt()]).toEqual([false, false, false]);
    expect(meter.onInterrupt()).toBe(true);
    expect(meter.fatal?.reason).toBe("budget");
    expect(meter.onInterrupt()).toBe(true);
  });

  test("host charges count toward the budget and throw once it is spent", () => {
    const meter = new HookMeter(limits, 1 << 30, () => 0);
    meter.start();
    meter.charge(2 * TICKS_PER_POLL);
    expect(() => meter.charge(2 * TICKS_PER_POLL)).toThrow(/budget/);
    expect(meter.fatal?.reason).toBe("budget");
    expect(meter.used).toBe(4);
  });

  test("memory above the high-water mark is fatal at the next check", () => {
    let bytes = 10;
    const meter = new HookMeter(limits, 100, () => bytes);
    meter.start();
    expect(meter.check()).toBe(false);
    bytes = 101;
    expect(meter.check()).toBe(true);
    expect(meter.fatal?.reason).toBe("memory");
  });

  test("the first limit broken is the one reported; start() clears it", () => {
    const meter = new HookMeter(limits, 1 << 30, () => 0);
    meter.start();
    meter.fail("state", "first");
    meter.fail("outputs", "second");
    expect(meter.fatal).toEqual({ reason: "state", message: "first" });
    meter.start();
    expect(meter.fatal).toBeNull();
  });
});
