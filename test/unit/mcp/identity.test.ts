import { describe, expect, test } from "bun:test";
import type { Identity } from "../../../src/identity.ts";
import { callerFrom, identityOf, VerifiedAuthInfo } from "../../../src/mcp/identity.ts";
import type { ToolExtra } from "../../../src/mcp/tool.ts";

const identity: Identity = { subject: "usr_1", servers: ["channels"], grantId: "gr_1", clientId: "c1", token: "t", expiresAt: 2_000_000_000 };
const extra = (over: Partial<ToolExtra>) => ({ signal: new AbortController().signal, requestId: 1, ...over }) as ToolExtra;

describe("identityOf() / callerFrom()", () => {
  test("the verified identity rides typed in the SDK's authInfo", () => {
    const info = new VerifiedAuthInfo(identity);
    expect(info).toMatchObject({ token: "t", clientId: "c1", scopes: ["channels"], expiresAt: 2_000_000_000 });
    expect(identityOf(extra({ authInfo: info }))).toBe(identity);
    expect(callerFrom(extra({ authInfo: info, sessionId: "s" }))).toEqual({ principal: "usr_1" });
  });

  test("without auth (--no-auth) the session stands in", () => {
    expect(identityOf(extra({}))).toBeNull();
    expect(callerFrom(extra({ sessionId: "s" }))).toEqual({ principal: "session:s" });
  });

  test("auth that did not come from the resource-server check is never taken for a session", () => {
    const forged = extra({ authInfo: { token: "t", clientId: "c", scopes: [], extra: { subject: "usr_1" } }, sessionId: "s" });
    expect(() => callerFrom(forged)).toThrow(/resource-server check/);
  });
});
