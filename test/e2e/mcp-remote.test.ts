/**
 * A real MCP client's OAuth sign-in, end to end: `mcp-remote` 0.15.1 (the stdio↔HTTP proxy many
 * desktop hosts use) against the real server. No mocks: it discovers the AS from our 401 +
 * RFC 9728 metadata, registers (RFC 7591), signs in with PKCE S256 through a headless "browser"
 * (a script that curls the authorize URL and follows the redirect to mcp-remote's localhost
 * callback; sign-in approves at once without --passcode), exchanges the code, and then speaks
 * MCP over stdio. Each scenario has its own MCP_REMOTE_CONFIG_DIR, so no cached token leaks in.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jwtClaims, startRemoteProxy, storedAuth, waitFor, writeFakeBrowser } from "../helpers/mcp-remote.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const SIGN_IN_PROMPT = "Please authorize this client by visiting";

function scratch(prefix: string) {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

describe("mcp-remote: sign-in, then a cached token", () => {
  let server: ServerProcess;
  let home: ReturnType<typeof scratch>;
  let browser: ReturnType<typeof writeFakeBrowser>;
  let configDir: string;
  let channelId: string;
  let firstClientId: string;
  let firstSubject: string;

  beforeAll(async () => {
    server = await startServer();
    home = scratch("parley-mcp-remote-");
    browser = writeFakeBrowser(home.path);
    configDir = join(home.path, "config");
  });
  afterAll(async () => {
    await server?.[Symbol.asyncDispose]();
    home?.[Symbol.dispose]();
  });

  test("first run: registers, signs in headlessly, lists tools and creates a channel through the stdio proxy", async () => {
    await using proxy = startRemoteProxy(server.mcpUrl, { configDir, browser: browser.script });
    const init = await proxy.initialize();
    expect(init.serverInfo.name).toBe("parley");

    const { tools } = await proxy.request("tools/list");
    expect(tools.map((t: { name: string }) => t.name)).toContain("create_channel");

    const created = await proxy.callTool("create_channel", { name: "via mcp-remote", slots: ["invite:a"] });
    expect(created.channel_id).toMatch(/^chn_/);
    expect(created.invites).toHaveLength(1);
    channelId = created.channel_id;

    // The sign-in went through the browser exactly once, to our /authorize with PKCE S256 and the resource.
    const [url, ...more] = browser.urls();
    expect(more).toEqual([]);
    const authorizeUrl = new URL(url!);
    expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(`${server.url}/authorize`);
    expect(authorizeUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorizeUrl.searchParams.get("resource")).toBe(server.mcpUrl);
    expect(authorizeUrl.searchParams.get("scope")).toBe("channels");
    expect(proxy.stderr()).toContain(SIGN_IN_PROMPT);

    // DCR result and tokens are cached where MCP_REMOTE_CONFIG_DIR says.
    const { tokens, clientInfo } = storedAuth(configDir);
    expect(clientInfo?.client_id).toBe(authorizeUrl.searchParams.get("client_id")!);
    expect(tokens?.access_token).toBeString();
    expect(tokens?.refresh_token).toBeString();
    firstClientId = clientInfo!.client_id;
    firstSubject = jwtClaims(tokens!.access_token).sub;

    expect(await proxy.close()).toBe(0);
  }, 45_000);

  test("second run with the same config dir: no new registration or sign-in, same identity", async () => {
    expect(channelId).toBeDefined();
    const before = storedAuth(configDir);
    await using proxy = startRemoteProxy(server.mcpUrl, { configDir, browser: browser.script });
    await proxy.initialize();
    const listed = await proxy.callTool("list_channels");
    expect(listed.channels.map((c: { channel_id: string }) => c.channel_id)).toContain(channelId);

    expect(browser.urls()).toHaveLength(1); // the browser was not opened again
    expect(proxy.stderr()).not.toContain(SIGN_IN_PROMPT);
    expect(proxy.stderr()).not.toContain("/authorize?");
    const after = storedAuth(configDir);
    expect(after.clientInfo?.client_id).toBe(firstClientId);
    expect(after.tokens?.access_token).toBe(before.tokens?.access_token); // 1 h token: reused as is
    expect(jwtClaims(after.tokens!.access_token).sub).toBe(firstSubject);

    expect(await proxy.close()).toBe(0);
  }, 45_000);

  test("tokens deleted: mcp-remote signs in again in the same browser, through the same client, as the same identity", async () => {
    expect(channelId).toBeDefined();
    const dir = join(configDir, "mcp-remote-v1");
    for (const f of readdirSync(dir).filter((f) => f.endsWith("_tokens.json"))) rmSync(join(dir, f));
    await using proxy = startRemoteProxy(server.mcpUrl, { configDir, browser: browser.script });
    await proxy.initialize();
    const listed = await proxy.callTool("list_channels");
    expect(listed.channels.map((c: { channel_id: string }) => c.channel_id)).toContain(channelId);
    expect(browser.urls()).toHaveLength(2);
    const after = storedAuth(configDir);
    expect(after.clientInfo?.client_id).toBe(firstClientId);
    expect(jwtClaims(after.tokens!.access_token).sub).toBe(firstSubject);
    expect(await proxy.close()).toBe(0);
  }, 45_000);
});

/**
 * mcp-remote refreshes proactively when a token has under 60 s left (TOKEN_EXPIRY_MARGIN_MS), so
 * with a 3 s lifetime it redeems its refresh token before every request: each refresh must rotate
 * cleanly (a reused refresh token would revoke the whole grant). What this pins down is the
 * outcome: once the server rejects the token mcp-remote last stored, the same proxy still works,
 * on a rotated token for the same identity, without a second browser sign-in.
 */
describe("mcp-remote: an expired access token is refreshed", () => {
  test("with a 3 s access token, a call after expiry succeeds via refresh_token rotation, same identity", async () => {
    await using server = await startServer({ env: { PARLEY_ACCESS_TOKEN_TTL_SECONDS: "3" } });
    using home = scratch("parley-mcp-remote-ttl-");
    const browser = writeFakeBrowser(home.path);
    const configDir = join(home.path, "config");

    await using proxy = startRemoteProxy(server.mcpUrl, { configDir, browser: browser.script });
    await proxy.initialize();
    const created = await proxy.callTool("create_channel", { name: "short tokens", slots: ["invite:a"] });
    const first = storedAuth(configDir).tokens!;
    expect(first.expires_in).toBe(3);
    const firstClaims = jwtClaims(first.access_token);
    expect(firstClaims.exp - firstClaims.iat).toBe(3);

    // Wait until the server itself rejects the last token mcp-remote stored (not a fixed sleep).
    const probe = (token: string) =>
      fetch(server.mcpUrl, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
    const rejected = await waitFor("the access token to expire", async () => {
      const res = await probe(first.access_token);
      return res.status === 401 ? res : undefined;
    }, 15_000, 250);
    expect(rejected.headers.get("www-authenticate")).toContain('error="invalid_token"');

    // The same proxy keeps working past expiry, with no second browser sign-in.
    const listed = await proxy.callTool("list_channels");
    expect(listed.channels.map((c: { channel_id: string }) => c.channel_id)).toContain(created.channel_id);
    expect(browser.urls()).toHaveLength(1);

    const refreshed = storedAuth(configDir).tokens!;
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(refreshed.refresh_token).not.toBe(first.refresh_token); // rotated
    const claims = jwtClaims(refreshed.access_token);
    expect(claims.sub).toBe(firstClaims.sub);
    expect(claims.exp).toBeGreaterThan(firstClaims.exp);
    expect(proxy.stderr()).toContain("Refreshed the access token");
    expect(proxy.stderr().split(SIGN_IN_PROMPT)).toHaveLength(2); // prompted once, at the first sign-in

    expect(await proxy.close()).toBe(0);
  }, 45_000);
});
