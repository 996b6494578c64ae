/**
 * The OAuth / resource-server attack table, end to end against the real server process over HTTP.
 * Each attack asserts the exact refusal (status, OAuth `error` code, no redirect where the spec
 * forbids one, no token issued) and then that the legitimate path still works. The table of
 * results is printed at the end of the file's run.
 *
 * No timed assertions: expiry waits for the token's own `exp` to pass, a passcode backoff is
 * waited out by polling until the server takes attempts again, and what a refill rate allows is
 * bounded by the time the flood actually took. Floods run on servers of their own, so the shared
 * one keeps its allowances.
 *
 * One file on purpose (over 500 lines): the attacks share one server and its sign-ins, and the
 * issue asks for them as one table, which afterAll prints.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync, statSync } from "node:fs";
import net from "node:net";
import { join, resolve } from "node:path";
import { importJWK, SignJWT, type JWK } from "jose";
import { connect } from "../helpers/mcp-client.ts";
import { waitFor } from "../helpers/mcp-remote.ts";
import { authorize, CookieJar, pkcePair, REDIRECT_URI, registerClient, signIn, signInClient, tokenRequest } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "attacker", version: "1.0.0" } },
};

// ---------------------------------------------------------------------------------------------
// The attack table: every attack test records one row; afterAll prints them all.

const table: { name: string; result: string }[] = [];
const ATTACKS: string[] = [];

function attack(name: string, fn: () => Promise<string>, timeout?: number) {
  ATTACKS.push(name);
  test(
    `attack: ${name}`,
    async () => {
      try {
        const refusal = await fn();
        table.push({ name, result: `REFUSED ${refusal}; legit path OK` });
      } catch (err) {
        table.push({ name, result: `FAILED: ${String(err instanceof Error ? err.message : err).split("\n")[0]}` });
        throw err;
      }
    },
    timeout,
  );
}

afterAll(() => {
  const width = Math.max(...ATTACKS.map((a) => a.length));
  const rows = ATTACKS.map((name) => `  ${name.padEnd(width)}  →  ${table.find((r) => r.name === name)?.result ?? "NOT RUN"}`);
  console.log(`\nOAuth attack table (${table.filter((r) => r.result.startsWith("REFUSED")).length}/${ATTACKS.length} refused):\n${rows.join("\n")}\n`);
});

// ---------------------------------------------------------------------------------------------
// Helpers

function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, any> } {
  const [h, p] = token.split(".");
  return { header: JSON.parse(Buffer.from(h!, "base64url").toString()), payload: JSON.parse(Buffer.from(p!, "base64url").toString()) };
}

/**
 * A legit token's header and claims, and a signer with the server's very own private key: a forgery
 * that differs from a real token in one chosen point only.
 */
async function serverKeyForger(srv: { url: string; dataDir: string }) {
  const legit = await signIn(srv.url);
  const jwk = JSON.parse(readFileSync(join(srv.dataDir, "keys", "ed25519.jwk"), "utf8")) as JWK;
  const key = await importJWK({ ...jwk, alg: "EdDSA" }, "EdDSA");
  const { header, payload } = decodeJwt(legit.access_token);
  const sign = (h: Record<string, unknown>, p: Record<string, unknown>) => new SignJWT(p).setProtectedHeader(h as { alg: string }).sign(key);
  return { header, payload, sign };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Replaces the character at index i with a different base64url character. */
function flipChar(s: string, i: number): string {
  const c = s[i]!;
  return s.slice(0, i) + (c === "A" ? "B" : "A") + s.slice(i + 1);
}

/** A raw initialize at /mcp: the resource-server check runs before anything else. */
async function mcpInit(srv: ServerProcess, token?: string, init: { url?: string; headers?: Record<string, string> } = {}) {
  const res = await fetch(init.url ?? srv.mcpUrl, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    body: JSON.stringify(INITIALIZE),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** Asserts a 401 at /mcp with the RFC 6750 challenge (and `error="invalid_token"` when a token was sent). */
async function expectRejected(srv: ServerProcess, token: string | undefined, status = 401) {
  const res = await mcpInit(srv, token);
  expect(res.status).toBe(status);
  expect(res.headers.get("mcp-session-id")).toBeNull();
  const challenge = res.headers.get("www-authenticate") ?? "";
  expect(challenge).toContain(`resource_metadata="${srv.url}/.well-known/oauth-protected-resource/mcp"`);
  if (token && status === 401) {
    expect(challenge).toContain('error="invalid_token"');
    expect(res.json().error).toBe("invalid_token");
  }
  return res;
}

/** The token works at /mcp: a real SDK client connects and calls a tool. */
async function expectWorks(srv: ServerProcess, token: string) {
  await using c = await connect(srv.mcpUrl, "legit", { token });
  expect((await c.call("health_check")).status).toBe("ok");
}

/** Legitimate path after an attack: the same client signs in properly and the token works at /mcp. */
async function legitAfter(srv: ServerProcess, clientId?: string) {
  const id = clientId ?? (await registerClient(srv.url)).client_id;
  const tokens = await signInClient(srv.url, id);
  await expectWorks(srv, tokens.access_token);
  return tokens;
}

/** An authorization redirect that carries an error: no code, our `iss`, the client's `state`. */
function expectErrorRedirect(location: URL, error: string, state = "st") {
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  expect(location.searchParams.get("error")).toBe(error);
  expect(location.searchParams.get("code")).toBeNull();
  expect(location.searchParams.get("state")).toBe(state);
}

/** Token endpoint refusal: status, error code, no tokens, not cacheable. */
async function expectTokenError(res: Response, error: string, status = 400) {
  expect(res.status).toBe(status);
  expect(res.headers.get("cache-control")).toBe("no-store");
  const body = (await res.json()) as Record<string, unknown>;
  expect(body.error).toBe(error);
  expect(body.access_token).toBeUndefined();
  expect(body.refresh_token).toBeUndefined();
  return body;
}

function parley(args: string[], srv: ServerProcess) {
  const res = Bun.spawnSync([process.execPath, MAIN, ...args, "--data", srv.dataDir, "--port", String(srv.port)], {
    cwd: srv.dataDir,
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: res.exitCode, out: res.stdout.toString(), err: res.stderr.toString() };
}

/** Waits (by condition, not by a fixed sleep) until the wall clock is past a JWT's `exp`. */
async function untilExpired(token: string) {
  const { exp } = decodeJwt(token).payload;
  while (Math.floor(Date.now() / 1000) < exp) await Bun.sleep(100);
}

/** One HTTP/1.1 request over a socket bound to a chosen local address (the rate limiters key on it). */
async function requestFrom(localAddress: string, port: number, method: string, path: string, form: URLSearchParams | { json: unknown }) {
  const [type, body] = form instanceof URLSearchParams ? ["application/x-www-form-urlencoded", form.toString()] : ["application/json", JSON.stringify(form.json)];
  const sock = net.connect({ host: "127.0.0.1", port, localAddress });
  let raw = "";
  sock.setEncoding("utf8");
  sock.on("data", (d) => (raw += d));
  await new Promise<void>((ok, fail) => {
    sock.on("connect", () => {
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
    sock.on("close", () => ok());
    sock.on("error", fail);
  });
  const [head] = raw.split("\r\n\r\n");
  const lines = head!.split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as const));
  return { status, headers, raw };
}

const subOf = (token: string): string => decodeJwt(token).payload.sub;

/** Rows in one table of a server's database, read beside the running server (WAL allows it). */
function rowCount(dataDir: string, table: string): number {
  const db = new Database(join(dataDir, "parley.db"), { readonly: true });
  try {
    return db.query<{ n: number }, []>(`SELECT COUNT(*) AS n FROM ${table}`).get()!.n;
  } finally {
    db.close();
  }
}

/** Bytes of the database and its WAL. */
function dbBytes(dataDir: string): number {
  const size = (f: string) => {
    try {
      return statSync(join(dataDir, f)).size;
    } catch {
      return 0;
    }
  };
  return size("parley.db") + size("parley.db-wal");
}

/** Sends `count` requests, `batch` at a time; returns the responses in order of sending. */
async function flood(count: number, send: (i: number) => Promise<Response>, batch = 25): Promise<Response[]> {
  const out: Response[] = [];
  for (let start = 0; start < count; start += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - start) }, (_, j) => send(start + j)))));
  }
  return out;
}

/** The consent form POST of a passcode server, as a browser (with `jar`) or a script sends it. */
function postConsent(baseUrl: string, params: Record<string, string>, passcode: string, init: { jar?: CookieJar; headers?: Record<string, string> } = {}) {
  return fetch(`${baseUrl}/authorize`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...init.jar?.header(), ...init.headers },
    body: new URLSearchParams({ ...params, passcode }),
  }).then((res) => {
    init.jar?.store(res);
    return res;
  });
}

/** Exchanges the code in a 302 from /authorize for tokens (public client). */
async function redeem(baseUrl: string, res: Response, clientId: string, verifier: string) {
  expect(res.status).toBe(302);
  const code = new URL(res.headers.get("location")!).searchParams.get("code");
  expect(code).toBeTruthy();
  const tok = await tokenRequest(baseUrl, { grant_type: "authorization_code", code: code!, code_verifier: verifier, client_id: clientId, redirect_uri: REDIRECT_URI });
  expect(tok.status).toBe(200);
  return (await tok.json()) as { access_token: string; refresh_token: string };
}

/** A victim's channel with a private message in it: what an identity thief would be after. */
async function victimChannel(baseUrl: string, token: string) {
  await using v = await connect(`${baseUrl}/mcp`, "victim", { token });
  const ch = await v.call("create_channel", { name: "victim-room", slots: ["invite:me", "invite:friend"] });
  await v.call("join_channel", { invite_code: ch.invites[0] });
  await v.call("post_message", { channel_id: ch.channel_id, body: "only for my eyes" });
  return ch.channel_id as string;
}

/** What a token's holder can see of the victim's channel: its channel list and a read attempt. */
async function whatTokenSees(baseUrl: string, token: string, channelId: string) {
  await using c = await connect(`${baseUrl}/mcp`, "probe", { token });
  const listed = JSON.stringify(await c.call("list_channels")).includes(channelId);
  const read = await c.raw("sync_messages", { channel_id: channelId, timeout_ms: 0 });
  const text = (read.content[0] as { text: string }).text;
  return { listed, readable: !read.isError && text.includes("only for my eyes"), error: read.isError ? text.split(":")[0] : null };
}

// ---------------------------------------------------------------------------------------------
// One server for the attacks that need no special configuration.

let srv: ServerProcess;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.[Symbol.asyncDispose]();
});

/** Authorize params for a client, overridable per attack. */
function authParams(clientId: string, challenge: string, extra: Record<string, string> = {}) {
  return {
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "st",
    resource: srv.mcpUrl,
    ...extra,
  };
}

describe("OAuth attacks", () => {
  attack("no PKCE", async () => {
    const client = await registerClient(srv.url);
    const { challenge } = pkcePair();
    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = authParams(client.client_id, challenge);
    const back = await authorize(srv.url, noPkce);
    expectErrorRedirect(back, "invalid_request");
    expect(back.searchParams.get("error_description")).toContain("PKCE");
    // A code exchange without a verifier is refused too (there is no code to exchange, so use a bogus one).
    await expectTokenError(await tokenRequest(srv.url, { grant_type: "authorization_code", code: "code_bogus", client_id: client.client_id, redirect_uri: REDIRECT_URI }), "invalid_request");
    await legitAfter(srv, client.client_id);
    return "302 error=invalid_request, no code";
  });

  attack("plain PKCE", async () => {
    const client = await registerClient(srv.url);
    const { verifier } = pkcePair();
    const back = await authorize(srv.url, authParams(client.client_id, verifier, { code_challenge_method: "plain" }));
    expectErrorRedirect(back, "invalid_request");
    // RFC 7636 §4.3: an absent method means plain; refused as well.
    const { code_challenge_method: _m, ...implicitPlain } = authParams(client.client_id, verifier);
    expectErrorRedirect(await authorize(srv.url, implicitPlain), "invalid_request");
    await legitAfter(srv, client.client_id);
    return "302 error=invalid_request (plain and absent method), no code";
  });

  attack("wrong PKCE verifier", async () => {
    const client = await registerClient(srv.url);
    const { challenge } = pkcePair();
    const back = await authorize(srv.url, authParams(client.client_id, challenge));
    const code = back.searchParams.get("code")!;
    expect(code).toBeTruthy();
    const wrong = pkcePair().verifier;
    await expectTokenError(
      await tokenRequest(srv.url, { grant_type: "authorization_code", code, code_verifier: wrong, client_id: client.client_id, redirect_uri: REDIRECT_URI }),
      "invalid_grant",
    );
    // Presenting the challenge itself as the verifier (what `plain` would accept) fails too.
    await expectTokenError(
      await tokenRequest(srv.url, { grant_type: "authorization_code", code, code_verifier: challenge, client_id: client.client_id, redirect_uri: REDIRECT_URI }),
      "invalid_grant",
    );
    await legitAfter(srv, client.client_id);
    return "400 invalid_grant, no token";
  });

  attack("authorization code replay", async () => {
    const client = await registerClient(srv.url);
    const { verifier, challenge } = pkcePair();
    const code = (await authorize(srv.url, authParams(client.client_id, challenge))).searchParams.get("code")!;
    const form = { grant_type: "authorization_code", code, code_verifier: verifier, client_id: client.client_id, redirect_uri: REDIRECT_URI };
    const first = await tokenRequest(srv.url, form);
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as { access_token: string; refresh_token: string };
    await expectWorks(srv, tokens.access_token);
    // The second exchange is refused, and it revokes what the first one issued (RFC 6749 §4.1.2).
    await expectTokenError(await tokenRequest(srv.url, form), "invalid_grant");
    await expectRejected(srv, tokens.access_token);
    await expectTokenError(await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id }), "invalid_grant");
    await legitAfter(srv, client.client_id);
    return "400 invalid_grant; first exchange's access token → 401, refresh → invalid_grant";
  });

  attack("redirect URI not registered", async () => {
    const client = await registerClient(srv.url);
    const { challenge } = pkcePair();
    for (const evil of ["http://localhost:9999/steal", `${REDIRECT_URI}/`, `${REDIRECT_URI}?x=1`, "https://attacker.example/callback"]) {
      const url = new URL(`${srv.url}/authorize`);
      for (const [k, v] of Object.entries(authParams(client.client_id, challenge, { redirect_uri: evil }))) url.searchParams.set(k, v);
      const res = await fetch(url, { redirect: "manual" });
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("content-type")).toContain("text/html");
      const page = await res.text();
      expect(page).toContain("Invalid redirect URI");
      expect(page).not.toContain("code=");
    }
    // An unknown client gets the same: a page, never a redirect to the URI it names.
    const url = new URL(`${srv.url}/authorize`);
    for (const [k, v] of Object.entries(authParams("cli_unknown", challenge, { redirect_uri: "https://attacker.example/callback" }))) url.searchParams.set(k, v);
    const unknown = await fetch(url, { redirect: "manual" });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get("location")).toBeNull();
    expect(await unknown.text()).toContain("Unknown client");
    await legitAfter(srv, client.client_id);
    return "400 HTML error page, no Location header";
  });

  attack("token for another audience", async () => {
    // (a) A JWT signed with the server's very own key, perfect in every way but `aud`.
    const { header, payload, sign } = await serverKeyForger(srv);
    const forge = (aud: string) => sign(header, { ...payload, aud });
    await expectRejected(srv, await forge("https://other.example/mcp"));
    await expectRejected(srv, await forge(srv.url)); // the issuer is not the resource
    // Control: the same forgery with our audience passes, so `aud` alone made the difference.
    await expectWorks(srv, await forge(srv.mcpUrl));

    // (b) Asking this server for a token for another resource.
    const client = await registerClient(srv.url);
    const { verifier, challenge } = pkcePair();
    const back = await authorize(srv.url, authParams(client.client_id, challenge, { resource: "https://other.example/mcp" }));
    expectErrorRedirect(back, "invalid_target");
    // …and at the token endpoint, with an otherwise good code.
    const code = (await authorize(srv.url, authParams(client.client_id, challenge))).searchParams.get("code")!;
    await expectTokenError(
      await tokenRequest(srv.url, { grant_type: "authorization_code", code, code_verifier: verifier, client_id: client.client_id, redirect_uri: REDIRECT_URI, resource: "https://other.example/mcp" }),
      "invalid_target",
    );
    await legitAfter(srv, client.client_id);
    return "forged aud → 401 invalid_token; resource=other → 302 error=invalid_target, /token → 400 invalid_target";
  });

  attack("expired access token", async () => {
    await using short = await startServer({ env: { PARLEY_ACCESS_TOKEN_TTL_SECONDS: "2" } });
    const signed = await signIn(short.url);
    expect(signed.expires_in).toBe(2);
    await untilExpired(signed.access_token);
    await expectRejected(short, signed.access_token);
    // Legit path: the refresh token gets a fresh access token that works.
    const res = await tokenRequest(short.url, { grant_type: "refresh_token", refresh_token: signed.refresh_token, client_id: signed.client_id });
    expect(res.status).toBe(200);
    const fresh = (await res.json()) as { access_token: string };
    const head = await mcpInit(short, fresh.access_token);
    expect(head.status).toBe(200);
    return "401 invalid_token after exp";
  });

  attack("tampered token (signature, payload)", async () => {
    const legit = await signIn(srv.url);
    const [h, p, s] = legit.access_token.split(".") as [string, string, string];
    // A character in the middle of the signature (the last one may only carry padding bits).
    await expectRejected(srv, `${h}.${p}.${flipChar(s, 10)}`);
    await expectRejected(srv, `${h}.${p}.${flipChar(s, 40)}`);
    // A character of the payload, and a meaningful payload edit (another subject, wider scope).
    await expectRejected(srv, `${h}.${flipChar(p, 20)}.${s}`);
    const { payload } = decodeJwt(legit.access_token);
    await expectRejected(srv, `${h}.${b64url({ ...payload, sub: "usr_someone_else" })}.${s}`);
    await expectRejected(srv, `${h}.${b64url({ ...payload, exp: payload.exp + 86_400 })}.${s}`);
    // Truncated / garbage tokens.
    await expectRejected(srv, `${h}.${p}`);
    await expectRejected(srv, "not-a-jwt");
    await expectWorks(srv, legit.access_token);
    return "401 invalid_token";
  });

  attack("alg:none token (and HS256 key confusion)", async () => {
    const legit = await signIn(srv.url);
    const { header, payload } = decodeJwt(legit.access_token);
    await expectRejected(srv, `${b64url({ ...header, alg: "none" })}.${b64url(payload)}.`);
    await expectRejected(srv, `${b64url({ alg: "none", typ: "at+jwt" })}.${b64url(payload)}.`);
    // HS256 with the server's public key bytes as the HMAC secret.
    const jwks = (await (await fetch(`${srv.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const secret = Buffer.from(jwks.keys[0]!.x!, "base64url");
    const hs = await new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "at+jwt" }).sign(secret);
    await expectRejected(srv, hs);
    await expectWorks(srv, legit.access_token);
    return "401 invalid_token";
  });

  attack("revoked agent token", async () => {
    const issued = parley(["token", "issue", "--agent", "bot-1", "--servers", "channels", "--ttl", "30d"], srv);
    expect(issued.code).toBe(0);
    const token = issued.out.trim();
    const id = /Agent token (\S+) for/.exec(issued.err)?.[1];
    expect(id).toMatch(/^agt_/);
    expect(decodeJwt(token).payload.aud).toBe(srv.mcpUrl);
    // It works, including inside an open session…
    const c = await connect(srv.mcpUrl, "agent", { token });
    expect((await c.call("health_check")).status).toBe("ok");
    expect(parley(["token", "list"], srv).out).toMatch(new RegExp(`${id}\\s+bot-1\\s+servers=channels.*active`));
    // …until `token revoke`: the very next request is refused, fresh or in the open session.
    const revoked = parley(["token", "revoke", id!], srv);
    expect(revoked.code).toBe(0);
    await expectRejected(srv, token);
    const inSession = await fetch(srv.mcpUrl, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, "mcp-session-id": c.transport.sessionId!, "mcp-protocol-version": "2025-11-25" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping" }),
    });
    expect(inSession.status).toBe(401);
    await c.client.close().catch(() => {});
    expect(parley(["token", "list"], srv).out).toMatch(new RegExp(`${id}\\s+bot-1.*REVOKED`));
    // Revoking again reports there is nothing live to revoke.
    const twice = parley(["token", "revoke", id!], srv);
    expect(twice.code).toBe(1);
    expect(twice.err).toContain(`no active agent token "${id}"`);
    // Legit path: a new agent token works.
    const again = parley(["token", "issue", "--agent", "bot-2", "--servers", "channels"], srv);
    expect(again.code).toBe(0);
    await expectWorks(srv, again.out.trim());
    return "401 invalid_token on the next request (also inside an open session)";
  });

  attack("refresh token reuse", async () => {
    const first = await signIn(srv.url);
    const rotate = (refresh_token: string) => tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token, client_id: first.client_id });
    const res = await rotate(first.refresh_token);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const second = (await res.json()) as { access_token: string; refresh_token: string };
    expect(second.refresh_token).not.toBe(first.refresh_token);
    await expectWorks(srv, second.access_token);
    // The old refresh token again: refused, and the whole family dies.
    await expectTokenError(await rotate(first.refresh_token), "invalid_grant");
    await expectTokenError(await rotate(second.refresh_token), "invalid_grant");
    await expectRejected(srv, second.access_token);
    await expectRejected(srv, first.access_token);
    await legitAfter(srv, first.client_id);
    return "400 invalid_grant; rotated refresh token and current access token revoked";
  });

  attack("access token in the query string", async () => {
    const legit = await signIn(srv.url);
    const inQuery = `${srv.mcpUrl}?access_token=${encodeURIComponent(legit.access_token)}`;
    const res = await mcpInit(srv, undefined, { url: inQuery });
    expect(res.status).toBe(400);
    expect(res.json().error).toBe("invalid_request");
    expect(res.headers.get("mcp-session-id")).toBeNull();
    // Not even alongside a valid header, and not on GET.
    expect((await mcpInit(srv, legit.access_token, { url: inQuery })).status).toBe(400);
    expect((await fetch(inQuery, { headers: { accept: "text/event-stream" } })).status).toBe(400);
    await expectWorks(srv, legit.access_token);
    return "400 invalid_request, no session";
  });

  attack("another subject's session id", async () => {
    await using alice = await connect(srv.mcpUrl, "alice");
    const sid = alice.transport.sessionId!;
    const mallory = await signIn(srv.url);
    const headers = { ...MCP_HEADERS, authorization: `Bearer ${mallory.access_token}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
    const post = await fetch(srv.mcpUrl, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "list_channels", arguments: {} } }) });
    expect(post.status).toBe(404);
    expect((await post.json()).error.code).toBe(-32001);
    expect((await fetch(srv.mcpUrl, { method: "GET", headers: { ...headers, accept: "text/event-stream" } })).status).toBe(404);
    expect((await fetch(srv.mcpUrl, { method: "DELETE", headers })).status).toBe(404);
    // Alice's session survived the DELETE attempt.
    expect((await alice.call("health_check")).status).toBe("ok");
    await expectWorks(srv, mallory.access_token);
    return "404 (POST, GET, DELETE); the owner's session lives on";
  });

  attack("code or refresh token presented by another client", async () => {
    const victim = await registerClient(srv.url);
    const thief = await registerClient(srv.url);
    const { verifier, challenge } = pkcePair();
    const code = (await authorize(srv.url, authParams(victim.client_id, challenge))).searchParams.get("code")!;
    // The thief has the code and even the verifier: still not its code.
    await expectTokenError(
      await tokenRequest(srv.url, { grant_type: "authorization_code", code, code_verifier: verifier, client_id: thief.client_id, redirect_uri: REDIRECT_URI }),
      "invalid_grant",
    );
    // The code was not consumed by the theft attempt; the victim exchanges it.
    const res = await tokenRequest(srv.url, { grant_type: "authorization_code", code, code_verifier: verifier, client_id: victim.client_id, redirect_uri: REDIRECT_URI });
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as { access_token: string; refresh_token: string };
    await expectTokenError(await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: thief.client_id }), "invalid_grant");
    // The victim's refresh token was not burned by the thief's attempt.
    const refreshed = await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: victim.client_id });
    expect(refreshed.status).toBe(200);
    await expectWorks(srv, ((await refreshed.json()) as { access_token: string }).access_token);
    return "400 invalid_grant (code and refresh token bound to their client)";
  });

  attack("missing, wrong or malformed client credentials", async () => {
    // A confidential client (RFC 7591 default: client_secret_basic).
    const client = await registerClient(srv.url, { token_endpoint_auth_method: "client_secret_basic" });
    expect(client.client_secret).toBeTruthy();
    const { verifier, challenge } = pkcePair();
    const code = (await authorize(srv.url, authParams(client.client_id, challenge))).searchParams.get("code")!;
    const form = { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT_URI };
    const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` });
    await expectTokenError(await tokenRequest(srv.url, { ...form, client_id: client.client_id }), "invalid_client", 401);
    await expectTokenError(await tokenRequest(srv.url, form, basic(client.client_id, "cs_wrong")), "invalid_client", 401);
    await expectTokenError(await tokenRequest(srv.url, { ...form, client_id: client.client_id, client_secret: `${client.client_secret}x` }), "invalid_client", 401);
    // Malformed Basic credentials (a stray %, no colon) are the client's error, not a server error.
    await expectTokenError(await tokenRequest(srv.url, form, basic("%", "x")), "invalid_client", 401);
    await expectTokenError(await tokenRequest(srv.url, form, basic(client.client_id, "%zz")), "invalid_client", 401);
    await expectTokenError(await tokenRequest(srv.url, form, { authorization: `Basic ${Buffer.from("nocolon").toString("base64")}` }), "invalid_client", 401);
    const revoke = await fetch(`${srv.url}/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...basic("%", "x") }, body: "token=x" });
    expect(revoke.status).toBe(401);
    expect(((await revoke.json()) as { error: string }).error).toBe("invalid_client");
    // Legit: the right secret in Basic gets tokens (the code survived the failed attempts).
    const ok = await tokenRequest(srv.url, form, basic(client.client_id, client.client_secret!));
    expect(ok.status).toBe(200);
    await expectWorks(srv, ((await ok.json()) as { access_token: string }).access_token);
    return "401 invalid_client at /token and /revoke (never 500)";
  });

  attack("server-key JWT with wrong typ, iss or claims", async () => {
    const { header, payload, sign } = await serverKeyForger(srv);
    await expectRejected(srv, await sign({ ...header, typ: "JWT" }, payload));
    await expectRejected(srv, await sign({ alg: "EdDSA" }, payload));
    await expectRejected(srv, await sign(header, { ...payload, iss: "https://other.example" }));
    const { gid: _g, ...noGid } = payload;
    await expectRejected(srv, await sign(header, noGid));
    await expectRejected(srv, await sign(header, { ...payload, gid: "gr_does_not_exist" }));
    // Another subject's grant: the grant check ties gid to sub.
    const other = decodeJwt((await signIn(srv.url)).access_token).payload;
    await expectRejected(srv, await sign(header, { ...payload, gid: other.gid }));
    const { exp: _e, ...noExp } = payload;
    await expectRejected(srv, await sign(header, noExp));
    await expectWorks(srv, await sign(header, payload));
    return "401 invalid_token";
  });

  attack("token granting no server here", async () => {
    // `token issue` refuses a server this one does not serve; a token can still name one when it
    // was issued elsewhere or before (an upstream since removed): one signed with the server's key.
    const refused = parley(["token", "issue", "--agent", "outsider", "--servers", "battle"], srv);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("this server serves: channels");
    const { header, payload, sign } = await serverKeyForger(srv);
    // What a token grants is its grant's row, read on every request: a scope claim forged with the
    // server's own key changes nothing (the row still grants channels).
    await expectWorks(srv, await sign(header, { ...payload, scope: "battle" }));
    // A grant whose row names only a server this one no longer serves (an upstream since removed).
    const db = new Database(join(srv.dataDir, "parley.db"));
    db.run("UPDATE grants SET scope = 'battle' WHERE id = ?", [payload.gid as string]);
    db.close();
    const res = await expectRejected(srv, await sign(header, payload), 403);
    expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    expect(res.json().error).toBe("insufficient_scope");
    const db2 = new Database(join(srv.dataDir, "parley.db"));
    db2.run("UPDATE grants SET scope = 'battle channels' WHERE id = ?", [payload.gid as string]);
    db2.close();
    await expectWorks(srv, await sign(header, payload));
    return "403 insufficient_scope";
  });

  attack("revocation (RFC 7009) by the owner and by another client", async () => {
    const owner = await signIn(srv.url);
    const other = await registerClient(srv.url);
    const revoke = (token: string, client_id: string) =>
      fetch(`${srv.url}/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token, client_id }) });
    // Another client's revocation answers 200 (RFC 7009 §2.2) but changes nothing.
    expect((await revoke(owner.refresh_token, other.client_id)).status).toBe(200);
    await expectWorks(srv, owner.access_token);
    // The owner's revocation of the access token ends the whole sign-in.
    const res = await revoke(owner.access_token, owner.client_id);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    await expectRejected(srv, owner.access_token);
    await expectTokenError(await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: owner.refresh_token, client_id: owner.client_id }), "invalid_grant");
    await legitAfter(srv, owner.client_id);
    return "other client: no effect; owner: access 401 + refresh invalid_grant";
  });

  attack(
    "1,000 wrong passcodes from one address",
    async () => {
      const PASSCODE = "correct horse battery staple";
      await using guarded = await startServer({ args: ["--passcode", PASSCODE] });
      const client = await registerClient(guarded.url);
      const { verifier, challenge } = pkcePair();
      const params = {
        response_type: "code",
        client_id: client.client_id,
        redirect_uri: REDIRECT_URI,
        code_challenge: challenge,
        code_challenge_method: "S256",
        state: "st",
        resource: guarded.mcpUrl,
      };
      const post = (passcode: string) => postConsent(guarded.url, params, passcode);
      const consentPage = () => fetch(`${guarded.url}/authorize?${new URLSearchParams(params)}`, { redirect: "manual" });
      // Before the attack: the consent page, and a real sign-in with the passcode.
      const consent = await consentPage();
      expect(consent.status).toBe(200);
      expect(await consent.text()).toContain('name="passcode"');
      const before = await redeem(guarded.url, await post(PASSCODE), client.client_id, verifier);

      // 1,000 wrong passcodes, 25 at a time. Each wrong one checked doubles the wait before this
      // address's next attempt is looked at (1, 2, 4, … s); attempts during the wait get 429.
      const started = Date.now();
      const responses = await flood(1000, (i) => post(`wrong-${i}`));
      const elapsedS = (Date.now() - started) / 1000;
      let wrong = 0;
      for (const res of responses) {
        const body = await res.text();
        expect(res.headers.get("location")).toBeNull();
        if (res.status === 429) {
          expect(body).toContain("RATE_LIMITED");
          const retry = Number(res.headers.get("retry-after"));
          expect(retry).toBeGreaterThan(0);
          expect(retry).toBeLessThanOrEqual(60);
        } else {
          expect(res.status).toBe(401);
          expect(body).toContain("Wrong passcode");
          wrong++;
        }
      }
      // Checked: the first, then at most one per elapsed wait (1 + 2 + 4 + … s).
      expect(wrong).toBeGreaterThanOrEqual(1);
      expect(wrong).toBeLessThanOrEqual(Math.floor(Math.log2(elapsedS + 1)) + 2);

      // Another address is never affected: it signs in with the passcode while this one waits.
      const other = await requestFrom("127.0.0.2", guarded.port, "POST", "/authorize", new URLSearchParams({ ...params, passcode: PASSCODE }));
      expect(other.status).toBe(302);
      const otherCode = new URL(other.headers.get("location")!).searchParams.get("code")!;
      const otherTok = await tokenRequest(guarded.url, { grant_type: "authorization_code", code: otherCode, code_verifier: verifier, client_id: client.client_id, redirect_uri: REDIRECT_URI });
      expect(otherTok.status).toBe(200);
      // The server keeps serving everything else: metadata, registration, refresh, /mcp.
      expect((await fetch(`${guarded.url}/.well-known/oauth-authorization-server`)).status).toBe(200);
      expect((await registerClient(guarded.url)).client_id).toMatch(/^cli_/);
      const refreshed = await tokenRequest(guarded.url, { grant_type: "refresh_token", refresh_token: before.refresh_token, client_id: client.client_id });
      expect(refreshed.status).toBe(200);
      await expectWorks(guarded, ((await refreshed.json()) as { access_token: string }).access_token);

      // Once the wait is over, one wrong passcode is checked again (401); right after it, even the
      // right passcode gets 429, so the wait cannot be used to test passcodes.
      const allowed = () => waitFor("the backoff to pass", async () => (await consentPage()).status === 200, 70_000, 250);
      await allowed();
      expect((await post("wrong-again")).status).toBe(401);
      const during = await post(PASSCODE);
      expect(during.status).toBe(429);
      expect(during.headers.get("location")).toBeNull();
      expect(await during.text()).toContain("RATE_LIMITED");
      // After the wait the right passcode signs in, and the success clears the address's count.
      await allowed();
      const tokens = await redeem(guarded.url, await post(PASSCODE), client.client_id, verifier);
      await expectWorks(guarded, tokens.access_token);
      expect((await post("one typo")).status).toBe(401);
      return `${wrong} × 401 then 429 RATE_LIMITED (Retry-After ≤ 60 s, doubling); right passcode 429 during the wait, 302 after it; other addresses served`;
    },
    120_000,
  );

  attack("identity taken with a victim's public client_id", async () => {
    const victimClient = await registerClient(srv.url);
    const browser = new CookieJar();
    const victim = await signInClient(srv.url, victimClient.client_id, { jar: browser });
    const channelId = await victimChannel(srv.url, victim.access_token);
    // The attacker has what the authorize URL shows (client_id, redirect URI), its own PKCE pair, no cookie.
    const stolen = await signInClient(srv.url, victimClient.client_id);
    const seen = await whatTokenSees(srv.url, stolen.access_token, channelId);
    expect({ sameSubject: subOf(stolen.access_token) === subOf(victim.access_token), ...seen }).toEqual({ sameSubject: false, listed: false, readable: false, error: "NOT_MEMBER" });
    // Its refresh stays its own identity.
    const rotated = await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: stolen.refresh_token, client_id: victimClient.client_id });
    expect(subOf(((await rotated.json()) as { access_token: string }).access_token)).toBe(subOf(stolen.access_token));

    // The identity cookie: first-party, HttpOnly, SameSite=Lax, a 256-bit secret.
    expect(browser.seen[0]).toMatch(/^parley_browser=brw_[A-Za-z0-9_-]{43}; /);
    for (const attr of ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="]) expect(browser.seen[0]).toContain(attr);
    // Legit path: the victim's browser signs in again through the same client: same identity, still seated.
    const again = await signInClient(srv.url, victimClient.client_id, { jar: browser });
    expect(subOf(again.access_token)).toBe(subOf(victim.access_token));
    expect(await whatTokenSees(srv.url, again.access_token, channelId)).toEqual({ listed: true, readable: true, error: null });
    // One browser through two clients (two apps one person set up to play each other) is two identities.
    const otherApp = await signInClient(srv.url, (await registerClient(srv.url)).client_id, { jar: browser });
    expect(subOf(otherApp.access_token)).not.toBe(subOf(victim.access_token));
    return "attacker's tokens carry a new subject: NOT_MEMBER, victim's channels unlisted; the victim's browser keeps its identity";
  });

  attack("identity taken by another passcode holder", async () => {
    const PASSCODE = "shared by two people";
    await using g = await startServer({ args: ["--passcode", PASSCODE] });
    const victimClient = await registerClient(g.url);
    const signInWith = async (jar?: CookieJar) => {
      const { verifier, challenge } = pkcePair();
      const params = { response_type: "code", client_id: victimClient.client_id, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: "S256", state: "st", resource: g.mcpUrl };
      const page = await fetch(`${g.url}/authorize?${new URLSearchParams(params)}`, { redirect: "manual", headers: jar?.header() ?? {} });
      expect(page.status).toBe(200);
      return redeem(g.url, await postConsent(g.url, params, PASSCODE, { jar }), victimClient.client_id, verifier);
    };
    const browser = new CookieJar();
    const victim = await signInWith(browser);
    const channelId = await victimChannel(g.url, victim.access_token);
    // The other passcode holder: the victim's client_id, its own PKCE pair, its own browser (no cookie of the victim's).
    const stolen = await signInWith(new CookieJar());
    const seen = await whatTokenSees(g.url, stolen.access_token, channelId);
    expect({ sameSubject: subOf(stolen.access_token) === subOf(victim.access_token), ...seen }).toEqual({ sameSubject: false, listed: false, readable: false, error: "NOT_MEMBER" });
    // Legit path: the victim's browser, through the consent page again: same identity.
    const again = await signInWith(browser);
    expect(subOf(again.access_token)).toBe(subOf(victim.access_token));
    expect(await whatTokenSees(g.url, again.access_token, channelId)).toEqual({ listed: true, readable: true, error: null });
    return "the other holder's tokens carry a new subject: NOT_MEMBER; the victim's browser keeps its identity";
  });

  attack("registration flood", async () => {
    await using s = await startServer();
    const register = (body: unknown) => fetch(`${s.url}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const small = { redirect_uris: [REDIRECT_URI], client_name: "flood", token_endpoint_auth_method: "none" };
    // Oversized metadata (the report stored 60 KiB per client) is refused, whatever field carries it.
    const oversized = [
      { ...small, client_name: "x".repeat(60 * 1024) },
      { ...small, redirect_uris: Array.from({ length: 100 }, (_, i) => `http://localhost:${1000 + i}/cb`) },
      { ...small, contacts: Array.from({ length: 500 }, (_, i) => `c${i}@example.com`) },
    ];
    const big = await Promise.all(oversized.map(async (body) => {
      const res = await register(body);
      return `${res.status} ${((await res.json()) as { error: string }).error}`;
    }));
    // 300 registrations from one address, then 300 more: the allowance is stored, the rest get 429.
    const first = await flood(300, () => register(small));
    const rows = rowCount(s.dataDir, "oauth_clients");
    const bytes = dbBytes(s.dataDir);
    const second = await flood(300, () => register(small));
    const created = [...first, ...second].filter((r) => r.status === 201).length;
    expect({ big, rowsGrewAfterLimit: rowCount(s.dataDir, "oauth_clients") - rows, bytesGrewAfterLimit: dbBytes(s.dataDir) - bytes, secondRoundCreated: second.filter((r) => r.status === 201).length }).toEqual({
      big: Array(3).fill("400 invalid_client_metadata"),
      rowsGrewAfterLimit: 0,
      bytesGrewAfterLimit: 0,
      secondRoundCreated: 0,
    });
    // 60 a burst (3 went to the oversized ones), then one a minute.
    expect(created + oversized.length).toBeGreaterThanOrEqual(60);
    expect(created + oversized.length).toBeLessThanOrEqual(62);
    expect(rows).toBe(created);
    const limited = second[0]!;
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.headers.get("access-control-allow-origin")).toBe("*");
    const body = (await limited.json()) as { error: string; error_description: string };
    expect(body.error).toBe("too_many_requests");
    expect(body.error_description).toContain("RATE_LIMITED");
    // Legit path: another address registers and signs in.
    const other = await requestFrom("127.0.0.2", s.port, "POST", "/register", { json: small });
    expect(other.status).toBe(201);
    return `oversized metadata 400; ${created} stored, then 429 too_many_requests with Retry-After; DB stops growing`;
  }, 60_000);

  attack("token and authorization-code flood", async () => {
    await using s = await startServer();
    const started = Date.now();
    const tokens = await flood(300, (i) => tokenRequest(s.url, { grant_type: "refresh_token", refresh_token: `rt_guess_${i}`, client_id: "cli_guess" }));
    const client = await registerClient(s.url);
    const codes = await flood(300, () => fetch(`${s.url}/authorize?${new URLSearchParams(authParams(client.client_id, pkcePair().challenge, { resource: s.mcpUrl }))}`, { redirect: "manual" }));
    const elapsedS = Math.ceil((Date.now() - started) / 1000);
    const served = (rs: Response[]) => rs.filter((r) => r.status !== 429).length;
    expect({ tokenLimited: served(tokens) < 300, codesLimited: served(codes) < 300 }).toEqual({ tokenLimited: true, codesLimited: true });
    // 120 a burst, then one a second (/token) or one every 10 s (/authorize).
    expect(served(tokens)).toBeGreaterThanOrEqual(120);
    expect(served(tokens)).toBeLessThanOrEqual(120 + elapsedS + 1);
    expect(served(codes)).toBeLessThanOrEqual(120 + Math.ceil(elapsedS / 10) + 1);
    expect(rowCount(s.dataDir, "oauth_codes")).toBe(served(codes));
    const limited = tokens.find((r) => r.status === 429)!;
    expect(limited.headers.get("cache-control")).toBe("no-store");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: string }).error).toBe("too_many_requests");
    const limitedPage = codes.find((r) => r.status === 429)!;
    expect(limitedPage.headers.get("location")).toBeNull();
    expect(await limitedPage.text()).toContain("RATE_LIMITED");
    // Legit path: another address is served at once.
    const other = await requestFrom("127.0.0.2", s.port, "POST", "/token", new URLSearchParams({ grant_type: "refresh_token", refresh_token: "rt_x", client_id: "cli_guess" }));
    expect(other.status).toBe(401);
    return `/token: ${served(tokens)} answered, then 429 too_many_requests; /authorize: ${served(codes)} codes, then a 429 page`;
  }, 60_000);

  attack("consent page framed, or posted from another origin", async () => {
    const PASSCODE = "frame me if you can";
    await using g = await startServer({ args: ["--passcode", PASSCODE] });
    const client = await registerClient(g.url);
    const { verifier, challenge } = pkcePair();
    const params = { response_type: "code", client_id: client.client_id, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: "S256", state: "st", resource: g.mcpUrl };
    const page = await fetch(`${g.url}/authorize?${new URLSearchParams(params)}`, { redirect: "manual" });
    const html = await page.text();
    const csp = page.headers.get("content-security-policy") ?? "";
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? "";
    const styleHash = `'sha256-${new Bun.CryptoHasher("sha256").update(style).digest("base64")}'`;
    const policy = Object.fromEntries(csp.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(" ")]));
    expect({ xfo: page.headers.get("x-frame-options"), referrer: page.headers.get("referrer-policy"), policy }).toEqual({
      xfo: "DENY",
      referrer: "no-referrer",
      policy: {
        "default-src": "'none'",
        "style-src": styleHash,
        // The redirect after the POST must be allowed too: browsers apply form-action to it.
        "form-action": "'self' http://localhost:53682",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
      },
    });
    // Error pages are framed no more than the consent page.
    const errorPage = await fetch(`${g.url}/authorize?client_id=cli_nobody`, { redirect: "manual" });
    expect(errorPage.status).toBe(400);
    expect(errorPage.headers.get("x-frame-options")).toBe("DENY");
    expect(errorPage.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    // A cross-origin POST (a page elsewhere submitting the form, even with the right passcode) → 403.
    const crossOrigin: Record<string, string>[] = [{ origin: "https://evil.example" }, { origin: "null" }, { "sec-fetch-site": "cross-site" }, { origin: `http://localhost:${g.port + 1}` }];
    for (const headers of crossOrigin) {
      const res = await postConsent(g.url, params, PASSCODE, { headers });
      expect(res.status).toBe(403);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    // Legit path: the browser on this server's own origin, in each loopback spelling.
    for (const origin of [g.url, `http://127.0.0.1:${g.port}`]) {
      const res = await postConsent(g.url, params, PASSCODE, { headers: { origin, "sec-fetch-site": "same-origin" } });
      await expectWorks(g, (await redeem(g.url, res, client.client_id, verifier)).access_token);
    }
    return "CSP frame-ancestors 'none' + X-Frame-Options DENY on every page; POST from another origin → 403";
  });
});

describe("OAuth discovery and endpoint hygiene", () => {
  test("a 401 points at RFC 9728 metadata whose authorization server serves RFC 8414 metadata (S256 only)", async () => {
    const res = await expectRejected(srv, undefined);
    const challenge = res.headers.get("www-authenticate")!;
    expect(challenge).toStartWith("Bearer ");
    expect(challenge).toContain('scope="channels"');
    const prmUrl = /resource_metadata="([^"]+)"/.exec(challenge)![1]!;
    expect(prmUrl).toBe(`${srv.url}/.well-known/oauth-protected-resource/mcp`);
    const prm = (await (await fetch(prmUrl)).json()) as { resource: string; authorization_servers: string[]; bearer_methods_supported: string[] };
    expect(prm.resource).toBe(srv.mcpUrl);
    expect(prm.bearer_methods_supported).toEqual(["header"]);
    const issuer = prm.authorization_servers[0]!;
    expect(issuer).toBe(srv.url);
    const asmRes = await fetch(`${new URL(issuer).origin}/.well-known/oauth-authorization-server${new URL(issuer).pathname.replace(/\/$/, "")}`);
    expect(asmRes.status).toBe(200);
    const asm = (await asmRes.json()) as Record<string, any>;
    expect(asm.issuer).toBe(issuer);
    expect(asm.code_challenge_methods_supported).toEqual(["S256"]);
    expect(asm.response_types_supported).toEqual(["code"]);
    for (const k of ["authorization_endpoint", "token_endpoint", "registration_endpoint"]) expect(asm[k]).toStartWith(issuer);
  });

  test("every /mcp method without a token → 401 with the challenge", async () => {
    for (const method of ["POST", "GET", "DELETE"]) {
      const res = await fetch(srv.mcpUrl, {
        method,
        headers: method === "POST" ? MCP_HEADERS : { accept: "text/event-stream", "mcp-session-id": "whatever" },
        body: method === "POST" ? JSON.stringify(INITIALIZE) : undefined,
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain(`resource_metadata="${srv.url}/.well-known/oauth-protected-resource/mcp"`);
    }
    // A malformed Authorization header (Basic, empty Bearer) is the same 401.
    for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"]) {
      expect((await mcpInit(srv, undefined, { headers: { authorization } })).status).toBe(401);
    }
  });

  test("/register refuses non-https non-loopback redirects and bad metadata", async () => {
    const register = async (body: unknown) => {
      const res = await fetch(`${srv.url}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      expect(json.client_id).toBeUndefined();
      return { status: res.status, error: json.error };
    };
    for (const uri of ["http://evil.example/callback", "http://192.0.2.10/callback", "https://ok.example/cb#frag"]) {
      expect(await register({ redirect_uris: [uri], token_endpoint_auth_method: "none" })).toEqual({ status: 400, error: "invalid_redirect_uri" });
    }
    expect(await register({ redirect_uris: [], token_endpoint_auth_method: "none" })).toEqual({ status: 400, error: "invalid_redirect_uri" });
    const badMetadata: unknown[] = [
      "not json",
      { client_name: "no redirect uris" },
      { redirect_uris: "http://localhost/cb" },
      { redirect_uris: ["not a url"] },
      { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "private_key_jwt" },
      { redirect_uris: [REDIRECT_URI], grant_types: ["client_credentials"] },
      { redirect_uris: [REDIRECT_URI], response_types: ["token"] },
    ];
    for (const body of badMetadata) expect(await register(body)).toEqual({ status: 400, error: "invalid_client_metadata" });
    // The legitimate registrations: https anywhere, http on loopback.
    expect((await registerClient(srv.url, { redirect_uris: ["https://app.example/cb", "http://127.0.0.1:1234/cb"] })).client_id).toMatch(/^cli_/);
  });

  test("token responses, success and error, carry Cache-Control: no-store", async () => {
    const client = await registerClient(srv.url);
    const { verifier, challenge } = pkcePair();
    const code = (await authorize(srv.url, authParams(client.client_id, challenge))).searchParams.get("code")!;
    const ok = await tokenRequest(srv.url, { grant_type: "authorization_code", code, code_verifier: verifier, client_id: client.client_id, redirect_uri: REDIRECT_URI });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
    const body = (await ok.json()) as Record<string, unknown>;
    expect(body.token_type).toBe("Bearer");
    const refreshed = await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: body.refresh_token as string, client_id: client.client_id });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get("cache-control")).toBe("no-store");
    await expectTokenError(await tokenRequest(srv.url, { grant_type: "password", username: "a", password: "b", client_id: client.client_id }), "unsupported_grant_type");
    await expectTokenError(await tokenRequest(srv.url, { grant_type: "authorization_code", code: "nope", code_verifier: verifier, client_id: "cli_nobody" }), "invalid_client", 401);
  });

  test("`iss` in the authorization response equals the metadata issuer (success and error)", async () => {
    const asm = (await (await fetch(`${srv.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string };
    const client = await registerClient(srv.url);
    const { challenge } = pkcePair();
    const ok = await authorize(srv.url, authParams(client.client_id, challenge, { state: "s-ok" }));
    expect(ok.searchParams.get("code")).toBeTruthy();
    expect(ok.searchParams.get("iss")).toBe(asm.issuer);
    expect(ok.searchParams.get("state")).toBe("s-ok");
    const err = await authorize(srv.url, authParams(client.client_id, challenge, { response_type: "token" }));
    expect(err.searchParams.get("error")).toBe("unsupported_response_type");
    expect(err.searchParams.get("iss")).toBe(asm.issuer);
  });
});
