import { describe, expect, test } from "bun:test";
import { startServer } from "../helpers/start-server.ts";

describe("CORS at /mcp for browser-based clients", () => {
  test("a preflight from an allowed origin passes without a token; a foreign origin is refused; responses expose the session header", async () => {
    await using srv = await startServer();
    const preflight = await fetch(srv.mcpUrl, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:6274", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, mcp-session-id" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("mcp-session-id");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");

    const foreign = await fetch(srv.mcpUrl, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();

    // The 401 a browser client gets must be readable, WWW-Authenticate included, to start sign-in.
    const unauthorized = await fetch(srv.mcpUrl, {
      method: "POST",
      headers: { origin: "http://localhost:6274", "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
    expect(unauthorized.headers.get("access-control-expose-headers")).toContain("www-authenticate");
  });
});
