import { describe, expect, test } from "bun:test";
import { floodVictim } from "../../../src/mcp/session-eviction.ts";

describe("floodVictim()", () => {
  const table = (rows: [string, string | null, string, number][]) => {
    const sessions = new Map(rows.map(([id, subject, address, lastSeen]) => [id, { subject, address, lastSeen }]));
    const perAddress = new Map<string, number>();
    for (const s of sessions.values()) perAddress.set(s.address, (perAddress.get(s.address) ?? 0) + 1);
    return floodVictim(sessions, perAddress);
  };

  test("picks from the address holding the most sessions, even when a user elsewhere is older", () => {
    expect(table([["user", "u", "10.0.0.1", 1], ["f1", "x1", "10.0.0.9", 5], ["f2", "x2", "10.0.0.9", 3], ["f3", "x3", "10.0.0.9", 4]])).toBe("f2");
  });

  test("within that address, from the identity holding the most sessions there, its least recently used", () => {
    expect(table([["a1", "a", "10.0.0.9", 1], ["b1", "b", "10.0.0.9", 5], ["b2", "b", "10.0.0.9", 3], ["c", "c", "10.0.0.1", 0]])).toBe("b2");
  });
});
