import { describe, expect, test } from "bun:test";
import { connect } from "../helpers/mcp-client.ts";
import { signIn } from "../helpers/oauth.ts";
import { startServer } from "../helpers/start-server.ts";

describe("loopback spellings of one server", () => {
  test("localhost and 127.0.0.1 each get metadata naming themselves, and sign-in works through any of them", async () => {
    await using srv = await startServer();
    for (const host of ["localhost", "127.0.0.1"]) {
      const base = `http://${host}:${srv.port}`;
      // RFC 9728: `resource` must equal the URL the client uses, or the SDK and mcp-remote refuse it.
      const prm = await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).json();
      expect(prm.resource).toBe(`${base}/mcp`);
      const unauthorized = await fetch(`${base}/mcp`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
      expect(unauthorized.headers.get("www-authenticate")).toContain(`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`);
      const signed = await signIn(base);
      const aud = JSON.parse(Buffer.from(signed.access_token.split(".")[1]!, "base64url").toString()).aud;
      expect(aud).toBe(`${base}/mcp`);
      await using client = await connect(`${base}/mcp`, host, { token: signed.access_token });
      expect((await client.call("health_check")).status).toBe("ok");
    }
  });

  test("a public URL that is not loopback has exactly one resource", async () => {
    await using srv = await startServer({ args: ["--public-url", "https://parley.example.com"] });
    const prm = await (await fetch(`http://localhost:${srv.port}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(prm.resource).toBe("https://parley.example.com/mcp");
    const meta = await (await fetch(`http://localhost:${srv.port}/.well-known/oauth-authorization-server`)).json();
    expect(meta.issuer).toBe("https://parley.example.com");
  });
});
