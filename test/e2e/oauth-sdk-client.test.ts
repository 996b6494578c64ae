/**
 * The MCP SDK's own OAuth client against the real server: an in-memory OAuthClientProvider whose
 * "browser" is fetch with redirect: "manual", the SDK's documented flow (connect → UnauthorizedError
 * → transport.finishAuth(code) → connect again), then tools. Identity is the token subject
 * (README: Identity, membership and rejoin tokens): a new session and a server restart keep membership, a rejoin token moves a seat
 * to another identity, and a short-lived access token is refreshed by the SDK without a new sign-in.
 */
import { describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { connect, wrapClient, type TestClient } from "../helpers/mcp-client.ts";
import { CookieJar, REDIRECT_URI } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * In-memory provider; the user agent is fetch, which stops at the redirect and reads the code,
 * with a cookie jar as the user's browser (the identity is bound to its cookie).
 */
class TestOAuthProvider implements OAuthClientProvider {
  private info?: OAuthClientInformationMixed;
  private stored?: OAuthTokens;
  private verifier?: string;
  private expectedState?: string;
  private pendingCode?: string;
  /** How often the interactive sign-in ran, and how often tokens were saved (sign-ins + refreshes). */
  redirects = 0;
  saves = 0;
  /** `iss` of the last authorization response (RFC 9207). */
  lastIss: string | null = null;

  constructor(
    readonly metadata: Partial<OAuthClientMetadata> = {},
    /** The browser the sign-in page opens in. */
    public browser = new CookieJar(),
  ) {}

  get redirectUrl() {
    return REDIRECT_URI;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { redirect_uris: [REDIRECT_URI], client_name: "sdk-oauth-test", ...this.metadata };
  }
  state() {
    this.expectedState = crypto.randomUUID();
    return this.expectedState;
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(tokens: OAuthTokens) {
    this.stored = tokens;
    this.saves++;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  }
  async redirectToAuthorization(url: URL) {
    this.redirects++;
    const res = await fetch(url, { redirect: "manual", headers: this.browser.header() });
    this.browser.store(res);
    const location = res.headers.get("location");
    if (res.status !== 302 || !location) throw new Error(`authorize did not redirect: ${res.status} ${await res.text()}`);
    const back = new URL(location);
    if (back.searchParams.get("state") !== this.expectedState) throw new Error(`state mismatch in ${location}`);
    this.lastIss = back.searchParams.get("iss");
    const code = back.searchParams.get("code");
    if (!code) throw new Error(`authorization failed: ${location}`);
    this.pendingCode = code;
  }
  /** The code the last redirect delivered (what a real client's callback server would receive). */
  takeCode(): string {
    const code = this.pendingCode;
    this.pendingCode = undefined;
    if (!code) throw new Error("no authorization code received");
    return code;
  }
  /** Forgets the tokens (not the registration): the next connect signs in again. */
  dropTokens() {
    this.stored = undefined;
  }
}

/** The SDK's documented flow (examples/client/simpleOAuthClient): connect; on UnauthorizedError finishAuth and connect again. */
async function connectWithOAuth(mcpUrl: string, provider: TestOAuthProvider, name = "sdk"): Promise<TestClient> {
  const client = new Client({ name, version: "1.0.0" });
  let transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  try {
    await client.connect(transport);
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    await transport.finishAuth(provider.takeCode());
    transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    await client.connect(transport);
  }
  return wrapClient(client, transport);
}

const payloadOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as { sub: string; exp: number; aud: string };

/** Waits by condition until the wall clock is past the token's `exp`. */
async function untilExpired(jwt: string) {
  const { exp } = payloadOf(jwt);
  while (Math.floor(Date.now() / 1000) < exp) await Bun.sleep(100);
}

async function statusWith(srv: ServerProcess, token: string) {
  const res = await fetch(srv.mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "probe", version: "1" } } }),
  });
  await res.body?.cancel();
  return res.status;
}

describe("SDK Client with its own OAuthClientProvider", () => {
  test("discovers, registers, signs in (PKCE, state, iss), then calls tools", async () => {
    await using srv = await startServer();
    const provider = new TestOAuthProvider();
    await using s = await connectWithOAuth(srv.mcpUrl, provider);
    expect(provider.redirects).toBe(1);
    // The SDK registered a confidential client by default (client_secret_basic) and got a secret.
    const info = provider.clientInformation() as { client_id: string; client_secret?: string };
    expect(info.client_id).toMatch(/^cli_/);
    expect(info.client_secret).toBeTruthy();
    expect(provider.lastIss).toBe(srv.url);
    const tokens = provider.tokens()!;
    expect(tokens.token_type).toBe("Bearer");
    expect(tokens.refresh_token).toBeTruthy();
    expect(payloadOf(tokens.access_token).aud).toBe(srv.mcpUrl);

    expect((await s.call("health_check")).status).toBe("ok");
    const ch = await s.call("create_channel", { name: "sdk-room", slots: ["invite:me", "invite:you"] });
    const joined = await s.call("join_channel", { invite_code: ch.invites[0] });
    expect(joined.slot_id).toBe("s0");
    const posted = await s.call("post_message", { channel_id: ch.channel_id, body: "hello from the SDK" });
    expect(posted.msg_id).toBeGreaterThan(0);
    const synced = await s.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
    expect(synced.messages.map((m: { body: { text?: string } }) => m.body.text)).toContain("hello from the SDK");
  });

  test("a public client (token_endpoint_auth_method none) works the same way", async () => {
    await using srv = await startServer();
    const provider = new TestOAuthProvider({ token_endpoint_auth_method: "none" });
    await using s = await connectWithOAuth(srv.mcpUrl, provider);
    expect((provider.clientInformation() as { client_secret?: string }).client_secret).toBeUndefined();
    expect((await s.call("health_check")).status).toBe("ok");
  });

  test("identity survives a new session and a server restart (same data dir, same port): membership without rejoin", async () => {
    using dir = tempDir("parley-sdk-");
    const provider = new TestOAuthProvider();
    let srv = await startServer({ dataDir: dir.path });
    const port = srv.port;
    try {
      let channelId: string;
      let firstSession: string;
      {
        await using s = await connectWithOAuth(srv.mcpUrl, provider);
        firstSession = s.transport.sessionId!;
        const ch = await s.call("create_channel", { name: "durable", slots: ["invite:me", "invite:other"] });
        channelId = ch.channel_id;
        await s.call("join_channel", { invite_code: ch.invites[0] });
        await s.call("post_message", { channel_id: channelId, body: "first session" });
      }
      // A new MCP session with the same provider: no new sign-in, still a member.
      {
        await using s = await connectWithOAuth(srv.mcpUrl, provider);
        expect(s.transport.sessionId).not.toBe(firstSession);
        expect(provider.redirects).toBe(1);
        expect((await s.call("post_message", { channel_id: channelId, body: "second session" })).msg_id).toBeGreaterThan(0);
        const mine = await s.call("list_channels");
        expect(JSON.stringify(mine)).toContain(channelId);
      }
      // Restart on the same port with the same data dir: the stored access token is still good.
      expect(await srv.kill("SIGTERM")).toBe(0);
      srv = await startServer({ dataDir: dir.path, port });
      {
        await using s = await connectWithOAuth(srv.mcpUrl, provider);
        expect(provider.redirects).toBe(1);
        expect((await s.call("post_message", { channel_id: channelId, body: "after restart" })).msg_id).toBeGreaterThan(0);
        expect(JSON.stringify(await s.call("list_channels"))).toContain(channelId);
      }
      // A fresh sign-in by the same registered client, in the same browser, is the same identity, too.
      const oldSub = payloadOf(provider.tokens()!.access_token).sub;
      provider.dropTokens();
      {
        await using s = await connectWithOAuth(srv.mcpUrl, provider);
        expect(provider.redirects).toBe(2);
        expect(payloadOf(provider.tokens()!.access_token).sub).toBe(oldSub);
        expect((await s.call("post_message", { channel_id: channelId, body: "after a new sign-in" })).msg_id).toBeGreaterThan(0);
        const log = await s.call("sync_messages", { channel_id: channelId, timeout_ms: 0 });
        const texts = log.messages.filter((m: { kind: string }) => m.kind === "user").map((m: { body: { text: string } }) => m.body.text);
        expect(texts).toEqual(["first session", "second session", "after restart", "after a new sign-in"]);
      }
    } finally {
      await srv[Symbol.asyncDispose]();
    }
  });

  test("a new sign-in through the same client from another browser (no identity cookie) is another identity", async () => {
    await using srv = await startServer();
    const provider = new TestOAuthProvider();
    const first = await connectWithOAuth(srv.mcpUrl, provider);
    const ch = await first.call("create_channel", { name: "mine", slots: ["invite:me"] });
    await first.call("join_channel", { invite_code: ch.invites[0] });
    await first[Symbol.asyncDispose]();
    const sub = payloadOf(provider.tokens()!.access_token).sub;
    // Same registration (client_id and secret), tokens dropped, a browser without the cookie.
    provider.dropTokens();
    provider.browser = new CookieJar();
    await using other = await connectWithOAuth(srv.mcpUrl, provider);
    expect(provider.redirects).toBe(2);
    expect(payloadOf(provider.tokens()!.access_token).sub).not.toBe(sub);
    expect((await other.error("post_message", { channel_id: ch.channel_id, body: "not mine" })).split(":")[0]).toBe("NOT_MEMBER");
    expect(JSON.stringify(await other.call("list_channels"))).not.toContain(ch.channel_id);
  });

  test("a rejoin token moves the seat to another identity; the old holder gets NOT_MEMBER next call", async () => {
    await using srv = await startServer();
    const provider = new TestOAuthProvider();
    await using alice = await connectWithOAuth(srv.mcpUrl, provider, "alice");
    const ch = await alice.call("create_channel", { name: "handover", slots: ["invite:a", "invite:b"] });
    const seat = await alice.call("join_channel", { invite_code: ch.invites[0] });
    await alice.call("post_message", { channel_id: ch.channel_id, body: "mine" });

    // Another identity (another OAuth client = another subject) redeems Alice's rejoin token.
    await using other = await connect(srv.mcpUrl, "other");
    const moved = await other.call("join_channel", { invite_code: seat.rejoin_token });
    expect(moved.slot_id).toBe(seat.slot_id);
    expect((await other.call("post_message", { channel_id: ch.channel_id, body: "now mine" })).msg_id).toBeGreaterThan(0);

    const res = await alice.raw("post_message", { channel_id: ch.channel_id, body: "still mine?" });
    expect(res.isError).toBe(true);
    expect((res.content[0] as { text: string }).text).toStartWith("NOT_MEMBER");
    // Her sign-in itself is fine: only the seat moved.
    expect((await alice.call("health_check")).status).toBe("ok");
    expect(provider.redirects).toBe(1);
  });

  test("with a 3 s access token the SDK refreshes (rotating the refresh token) and keeps working", async () => {
    await using srv = await startServer({ env: { PARLEY_ACCESS_TOKEN_TTL_SECONDS: "3" } });
    const provider = new TestOAuthProvider();
    await using s = await connectWithOAuth(srv.mcpUrl, provider);
    const ch = await s.call("create_channel", { name: "short-lived", slots: ["invite:me"] });
    await s.call("join_channel", { invite_code: ch.invites[0] });
    const sub = payloadOf(provider.tokens()!.access_token).sub;

    for (let round = 1; round <= 2; round++) {
      const before = provider.tokens()!;
      expect(before.expires_in).toBe(3);
      await untilExpired(before.access_token);
      expect(await statusWith(srv, before.access_token)).toBe(401);
      // The same session, the same client: the SDK gets a 401, refreshes, retries.
      expect((await s.call("post_message", { channel_id: ch.channel_id, body: `after expiry ${round}` })).msg_id).toBeGreaterThan(0);
      const after = provider.tokens()!;
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect(payloadOf(after.access_token).sub).toBe(sub);
    }
    // Two refreshes, no new interactive sign-in.
    expect(provider.redirects).toBe(1);
    expect(provider.saves).toBe(3);
    const log = await s.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
    expect(log.messages.filter((m: { kind: string }) => m.kind === "user")).toHaveLength(2);
  }, 30_000);
});
