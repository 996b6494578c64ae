import { describe, expect, test } from "bun:test";
import { browserCookie, newBrowserSecret, readBrowserSecret } from "../../../src/auth/browser-cookie.ts";
import { pageHeaders } from "../../../src/auth/consent.ts";

describe("browserCookie() / readBrowserSecret()", () => {
  test("on https: __Host- prefix, Secure, Path=/, HttpOnly, SameSite=Lax; on http: no prefix, no Secure", () => {
    const secret = newBrowserSecret();
    expect(secret).toMatch(/^brw_[A-Za-z0-9_-]{43}$/);
    expect(browserCookie(secret, "https://parley.example.com")).toBe(`__Host-parley_browser=${secret}; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax; Secure`);
    expect(browserCookie(secret, "http://localhost:8201")).toBe(`parley_browser=${secret}; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax`);
  });

  test("reads only the cookie of this scheme's name, and only a well-formed secret", () => {
    const secret = newBrowserSecret();
    expect(readBrowserSecret(`a=b; parley_browser=${secret}; c=d`, "http://localhost:8201")).toBe(secret);
    expect(readBrowserSecret(`__Host-parley_browser=${secret}`, "https://parley.example.com")).toBe(secret);
    // An https server ignores the unprefixed name, which a plain-http page could have planted.
    expect(readBrowserSecret(`parley_browser=${secret}`, "https://parley.example.com")).toBeNull();
    for (const bad of ["parley_browser=usr_x", "parley_browser=", `parley_browser=${secret}x`, "parley_browser=brw_short", ""]) {
      expect(readBrowserSecret(bad, "http://localhost:8201")).toBeNull();
    }
    expect(readBrowserSecret(null, "http://localhost:8201")).toBeNull();
  });
});

describe("pageHeaders()", () => {
  test("allows the form to post here and the redirect after it to go to the client's origin only", () => {
    expect(pageHeaders("https://claude.ai/api/mcp/auth_callback")["content-security-policy"]).toContain("form-action 'self' https://claude.ai;");
    expect(pageHeaders("http://127.0.0.1:33418/oauth/callback")["content-security-policy"]).toContain("form-action 'self' http://127.0.0.1:33418;");
    // CSP host sources cannot name an IPv6 literal: the scheme stands in.
    expect(pageHeaders("http://[::1]:9000/cb")["content-security-policy"]).toContain("form-action 'self' http:;");
    expect(pageHeaders()["content-security-policy"]).toContain("form-action 'self';");
    expect(pageHeaders()).toMatchObject({ "x-frame-options": "DENY", "referrer-policy": "no-referrer", "x-content-type-options": "nosniff" });
  });
});
