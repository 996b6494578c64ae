import { describe, expect, test } from "bun:test";
import { constantTimeEqual, sha256Hex } from "../../../src/lib/hash.ts";

describe("constantTimeEqual()", () => {
  test("equal strings only; different lengths are unequal, not an error", () => {
    expect(constantTimeEqual(sha256Hex("a"), sha256Hex("a"))).toBe(true);
    expect(constantTimeEqual(sha256Hex("a"), sha256Hex("b"))).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
    // Compared as UTF-8 bytes: same length in UTF-16 units, different in bytes.
    expect(constantTimeEqual("é", "e")).toBe(false);
  });
});
