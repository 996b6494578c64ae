import { describe, expect, test } from "bun:test";
import { canonicalJson } from "../../../src/lib/canonical-json.ts";

describe("canonicalJson() (RFC 8785)", () => {
  test("sorts keys by UTF-16 code units, recursively, with no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  test("RFC 8785 §3.2.3 sorting example: keys ordered by UTF-16 code units", () => {
    const input = { "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis" };
    const order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"];
    const expected = `{${order.map((k) => `${JSON.stringify(k)}:${JSON.stringify(input[k as keyof typeof input])}`).join(",")}}`;
    expect(canonicalJson(input)).toBe(expected);
  });

  test("RFC 8785 §3.2.2.3 number serialisation examples", () => {
    expect(canonicalJson([333333333.33333329, 1e30, 4.5, 2e-3, 0.000001, 1e-7, -0])).toBe("[333333333.3333333,1e+30,4.5,0.002,0.000001,1e-7,0]");
  });

  test("RFC 8785 §3.2.2.2 string escaping", () => {
    expect(canonicalJson("\u20ac$\u000f\nA'B\"\\\\\"/")).toBe('"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"');
  });

  test("drops undefined members and rejects non-finite numbers", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow();
  });
});
