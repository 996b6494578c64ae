import { describe, expect, test } from "bun:test";
import { tokenRefusal } from "../../../src/auth/index.ts";
import type { GrantRecord } from "../../../src/store/index.ts";

const NOW = Date.UTC(2026, 0, 1);
const grant = (over: Partial<GrantRecord> = {}): GrantRecord => ({
  id: "agt_x",
  kind: "agent",
  subject: "agent:a",
  client_id: null,
  name: "a",
  scope: "channels",
  resource: "http://localhost:8201/mcp",
  created_at: new Date(NOW - 60_000).toISOString(),
  expires_at: NOW + 3_600_000,
  revoked_at: null,
  ...over,
});
const token = { subject: "agent:a", expiresAt: NOW / 1000 + 600 };

describe("tokenRefusal()", () => {
  test("a live grant of the token's subject, both unexpired: no refusal", () => {
    expect(tokenRefusal(grant(), token, NOW)).toBeNull();
    expect(tokenRefusal(grant({ expires_at: null }), token, NOW)).toBeNull();
  });

  test.each([
    ["the grant is gone", null, token, "revoked"],
    ["the grant is revoked", grant({ revoked_at: new Date(NOW).toISOString() }), token, "revoked"],
    ["the grant is another subject's", grant({ subject: "agent:b" }), token, "revoked"],
    ["the grant has expired", grant({ expires_at: NOW - 1 }), token, "expired"],
    ["the token has expired", grant(), { ...token, expiresAt: NOW / 1000 }, "expired"],
  ] as const)("refuses when %s", (_, g, t, why) => {
    expect(tokenRefusal(g, t, NOW)).toBe(why);
  });
});
