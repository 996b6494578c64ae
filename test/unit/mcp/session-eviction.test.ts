import { describe, expect, test } from "bun:test";
import { addressGroup, floodVictim } from "../../../src/mcp/session-eviction.ts";

describe("addressGroup()", () => {
  test("an IPv4 address is itself; an IPv4-mapped IPv6 address is its IPv4 address", () => {
    expect(addressGroup("203.0.113.7")).toBe("203.0.113.7");
    expect(addressGroup("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  test("an IPv6 address stands for its /64, however it is written", () => {
    const group = "2001:db8:0:1::/64";
    expect(addressGroup("2001:db8:0:1::1")).toBe(group);
    expect(addressGroup("2001:0db8:0000:0001:ffff:eeee:dddd:cccc")).toBe(group);
    expect(addressGroup("2001:DB8:0:1:a::")).toBe(group);
    expect(addressGroup("2001:db8:0:1::1%eth0")).toBe(group);
    expect(addressGroup("2001:db8:0:2::1")).not.toBe(group);
    expect(addressGroup("::1")).toBe("0:0:0:0::/64");
  });
});

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
