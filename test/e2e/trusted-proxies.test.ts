import { describe, expect, test } from "bun:test";
import { after, openRaw, slowBodyHead, type RawConnection } from "../helpers/raw-http.ts";
import { startServer } from "../helpers/start-server.ts";

/**
 * Which address a request counts against is observable through the per-address cap: hold the cap's
 * worth of slow bodies for one client, then see whether another request is refused (429) or served.
 */
const CAP = 4;

async function holdCap(port: number, forwardedFor?: string): Promise<RawConnection[]> {
  const headers: Record<string, string> = forwardedFor ? { "x-forwarded-for": forwardedFor } : {};
  const held = await Promise.all(Array.from({ length: CAP }, () => openRaw(port, slowBodyHead(port, "/register", 1_000, '{"a":1', headers))));
  return held;
}

/** The status of a complete registration request sent with the given X-Forwarded-For. */
async function statusAs(port: number, forwardedFor: string | undefined): Promise<number | null> {
  const body = JSON.stringify({ redirect_uris: ["http://localhost:53682/callback"], token_endpoint_auth_method: "none" });
  const headers: Record<string, string> = forwardedFor ? { "x-forwarded-for": forwardedFor } : {};
  const conn = await openRaw(port, slowBodyHead(port, "/register", Buffer.byteLength(body), body, headers));
  await Promise.race([new Promise<void>((r) => conn.socket.once("data", () => r())), conn.closed, after(5_000, undefined)]);
  conn.socket.destroy();
  return conn.status();
}

describe("trusted_proxies (issue 9, item 6)", () => {
  test("behind a trusted proxy, two clients get their own addresses from X-Forwarded-For", async () => {
    await using srv = await startServer({ env: { PARLEY_TRUSTED_PROXIES: "127.0.0.1", PARLEY_MAX_REQUESTS_PER_ADDRESS: String(CAP) } });
    // The proxy appends the address it saw; what the client sent before it is not to be believed.
    const held = await holdCap(srv.port, "10.9.9.9, 198.51.100.1");
    expect(await statusAs(srv.port, "198.51.100.1")).toBe(429);
    expect(await statusAs(srv.port, "10.9.9.9, 198.51.100.2")).toBe(201);
    expect(await statusAs(srv.port, "198.51.100.1, 198.51.100.2")).toBe(201);
    // A request the proxy did not annotate counts against the proxy itself.
    expect(await statusAs(srv.port, undefined)).toBe(201);
    for (const c of held) c.socket.destroy();
  });

  test("X-Forwarded-For from a peer that is not a trusted proxy is ignored", async () => {
    for (const trusted of [undefined, "10.0.0.0/8, fd00::/8"]) {
      await using srv = await startServer({
        env: { PARLEY_MAX_REQUESTS_PER_ADDRESS: String(CAP), ...(trusted ? { PARLEY_TRUSTED_PROXIES: trusted } : {}) },
      });
      const held = await holdCap(srv.port, "198.51.100.1");
      // Spoofing another address does not escape the cap of the real peer (127.0.0.1).
      expect(await statusAs(srv.port, "198.51.100.2")).toBe(429);
      expect(await statusAs(srv.port, undefined)).toBe(429);
      for (const c of held) c.socket.destroy();
    }
  });

  test("a bad trusted_proxies entry is refused at start with the key named", async () => {
    const proc = Bun.spawn([process.execPath, `${import.meta.dir}/../../src/main.ts`, "serve", "--port", "0", "--data", "/nonexistent-parley"], {
      env: { ...process.env, PARLEY_TRUSTED_PROXIES: "10.0.0.0/33" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(2);
    expect(await new Response(proc.stderr).text()).toContain("trusted_proxies");
  });
});
