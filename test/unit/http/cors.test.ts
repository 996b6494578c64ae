import { describe, expect, test } from "bun:test";
import { cors } from "../../../src/http/cors.ts";

const request = (origin?: string) => new Request("http://localhost/x", { method: "OPTIONS", headers: origin ? { origin } : {} });

describe("cors()", () => {
  const any = cors({ origin: "*", methods: ["GET", "POST"], headers: ["authorization"] });
  const echo = cors({ origin: "echo", methods: ["POST"], headers: ["mcp-session-id"], expose: ["mcp-session-id", "www-authenticate"] });

  test("origin *: every response may be read from any origin, with or without an Origin header", () => {
    expect(any.apply(request(), new Response("x")).headers.get("access-control-allow-origin")).toBe("*");
    const pre = any.preflight(request("https://a.example"));
    expect(pre.status).toBe(204);
    expect(pre.headers.toJSON()).toMatchObject({
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": "authorization",
      "access-control-max-age": "86400",
    });
  });

  test("origin echo: the request's Origin comes back, varied on, with the exposed headers; no Origin, no CORS headers", () => {
    const res = echo.apply(request("http://localhost:6274"), new Response("x", { headers: { vary: "Accept" } }));
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
    expect(res.headers.get("access-control-expose-headers")).toBe("mcp-session-id, www-authenticate");
    expect(res.headers.get("vary")).toBe("Accept, Origin");
    const plain = echo.apply(request(), new Response("x"));
    expect(Object.keys(plain.headers.toJSON()).filter((k) => k.startsWith("access-control"))).toEqual([]);
    expect(echo.preflight(request("http://localhost:6274")).headers.get("access-control-allow-headers")).toBe("mcp-session-id");
  });
});
