import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import * as channels from "../../src/channels/index.ts";
import { genesisHash, Notifier, sealMessage, type ChannelsContext } from "../../src/channels/index.ts";
import { SqliteStore } from "../../src/store/index.ts";
import { connect } from "../helpers/mcp-client.ts";
import { pkcePair, REDIRECT_URI, signIn, tokenRequest } from "../helpers/oauth.ts";
import { startServer } from "../helpers/start-server.ts";
import { disk, STORAGE_FIXTURE } from "../helpers/storage-fixture.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");


/** A JSON answer (any other content type fails the test), with its status and Retry-After. */
async function jsonAnswer(res: Response) {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Record<string, string> };
}

/** Runs `parley serve` on a data dir the server must refuse; returns its exit code and output (a server that starts anyway is stopped). */
async function refusedStart(dataDir: string, as?: { uid: number; gid: number }) {
  const proc = Bun.spawn([process.execPath, MAIN, "serve", "--port", "0", "--data", dataDir], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, HOME: dataDir },
    ...as,
  });
  let out = "";
  const reading = (async () => {
    for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (out.includes("serving at")) proc.kill("SIGKILL");
    }
  })();
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text(), reading]);
  return { code, out, err };
}

/** A real database (the store and channel code the server runs) with a channel of `n` messages, its WAL checkpointed into the file. */
async function realDatabase(dataDir: string, n: number): Promise<string> {
  const store = new SqliteStore(dataDir);
  const ctx: ChannelsContext = { store, notifier: new Notifier(), limits: { maxMessageBytes: 65536 } };
  const created = await channels.createChannel(ctx, { principal: "alice" }, { name: "history", slots: ["invite:a"] });
  await channels.joinChannel(ctx, { principal: "alice" }, { invite_code: created.invites[0]! });
  for (let i = 0; i < n; i++) await channels.postMessage(ctx, { principal: "alice" }, { channel_id: created.channel_id, body: `message ${i} `.padEnd(300, ".") });
  store.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  store.close();
  return join(dataDir, "parley.db");
}

describe("a full disk", () => {
  test("writes answer STORAGE_UNAVAILABLE (tool errors; JSON 503 at /register, /token and /authorize) with the cause logged once; nothing acknowledged is lost; once there is room the same process serves again", async () => {
    await using server = await startServer({ command: [process.execPath, STORAGE_FIXTURE] });
    const base = server.url;
    await using alice = await connect(server.mcpUrl, "alice");
    const signedIn = await signIn(base);
    const { channel_id, invites } = await alice.call("create_channel", { name: "disk", slots: ["invite:a"] });
    await alice.call("join_channel", { invite_code: invites[0] });
    const acknowledged: { id: number; text: string }[] = [];
    const post = async (text: string) => {
      const res = await alice.raw("post_message", { channel_id, body: text });
      const answer = (res.content[0] as { text: string }).text;
      if (!res.isError) acknowledged.push({ id: (res.structuredContent as { msg_id: number }).msg_id, text });
      return res.isError ? answer : null;
    };
    for (let i = 0; i < 3; i++) await post(`before ${i}`);

    await disk(server, "full");
    // Posts in parallel (they share group commits), each needing pages the disk does not have.
    const errors = (await Promise.all(Array.from({ length: 40 }, (_, i) => post(`during ${i} ${"x".repeat(6000)}`)))).filter((e) => e !== null);
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e).toMatch(/^STORAGE_UNAVAILABLE: Storage unavailable \(disk full\); nothing was changed, try again later \(error err_[0-9a-f]{8}\)$/);

    // Registrations until one needs a page: every answer is JSON, the failing one a 503 (RFC 6749 temporarily_unavailable).
    let registration: Awaited<ReturnType<typeof jsonAnswer>> | undefined;
    for (let i = 0; i < 50 && !registration; i++) {
      const res = await fetch(`${base}/register`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: "https://claude.ai" },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], client_name: `client ${i} ${"c".repeat(3000)}`, token_endpoint_auth_method: "none" }),
      });
      const answer = await jsonAnswer(res);
      if (answer.status !== 201) {
        registration = answer;
        expect(res.headers.get("access-control-allow-origin")).toBe("*");
      }
    }
    expect(registration).toMatchObject({ status: 503, retryAfter: expect.any(String), body: { error: "temporarily_unavailable" } });
    expect(registration!.body.error_description).toMatch(/^STORAGE_UNAVAILABLE: /);

    // Refreshes until one cannot be stored: a JSON 503, and the refresh token presented stays good.
    let refreshToken = signedIn.refresh_token;
    let refusal: Awaited<ReturnType<typeof jsonAnswer>> | undefined;
    for (let i = 0; i < 200 && !refusal; i++) {
      const answer = await jsonAnswer(await tokenRequest(base, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: signedIn.client_id }));
      if (answer.status === 200) refreshToken = answer.body.refresh_token!;
      else refusal = answer;
    }
    expect(refusal).toMatchObject({ status: 503, body: { error: "temporarily_unavailable" } });

    // Sign-ins until one cannot store its code: a JSON 503 too, not a plain-text 500.
    let authorization: Awaited<ReturnType<typeof jsonAnswer>> | undefined;
    for (let i = 0; i < 200 && !authorization; i++) {
      const url = new URL(`${base}/authorize`);
      const query = { response_type: "code", client_id: signedIn.client_id, redirect_uri: REDIRECT_URI, code_challenge: pkcePair().challenge, code_challenge_method: "S256", state: `s${i}` };
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
      const res = await fetch(url, { redirect: "manual" });
      if (res.status !== 302) authorization = await jsonAnswer(res);
    }
    expect(authorization).toMatchObject({ status: 503, retryAfter: expect.any(String), body: { error: "temporarily_unavailable" } });

    await disk(server, "room");
    const refreshed = await jsonAnswer(await tokenRequest(base, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: signedIn.client_id }));
    expect(refreshed.status).toBe(200);
    expect(await post("after")).toBeNull();

    const { messages } = await alice.call("sync_messages", { channel_id, cursor: 0, timeout_ms: 0, limit: 1000 });
    const users = messages.filter((m: { kind: string }) => m.kind === "user");
    expect(users.map((m: { id: number; body: { text: string } }) => ({ id: m.id, text: m.body.text }))).toEqual(acknowledged.sort((a, b) => a.id - b.id));
    let prev = genesisHash(channel_id);
    for (const { hash, ...rest } of messages) {
      expect(hash).toBe(sealMessage(prev, rest));
      prev = hash;
    }

    // The log reaches us through a pipe, a moment after the answers.
    for (let i = 0; i < 500 && !server.stderr().includes("storage works again"); i++) await Bun.sleep(10);
    const log = server.stderr();
    expect(log).not.toContain("internal error");
    const logged = [...log.matchAll(/ERROR storage error error_id=(err_[0-9a-f]{8}) kind="disk full" file=(\S+) code=SQLITE_FULL/g)];
    expect(logged).toHaveLength(1);
    expect(logged[0]![2]).toBe(join(server.dataDir, "parley.db"));
    for (const e of errors) expect(e).toContain(logged[0]![1]!);
    expect(log).toContain(`WARN  storage works again error_id=${logged[0]![1]}`);
  });
});

describe("start-up refuses a data dir it cannot serve from", () => {
  test("a database with garbage in its pages: one line naming the file and what to do, exit 2, the file untouched", async () => {
    using dir = tempDir();
    const file = await realDatabase(dir.path, 300);
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.alloc(3 * 4096, 0xab), 0, 3 * 4096, 9 * 4096);
    closeSync(fd);
    const before = readFileSync(file);
    const { code, out, err } = await refusedStart(dir.path);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err.trimEnd().split("\n")).toHaveLength(1);
    expect(err).toStartWith(`parley: database ${file} is corrupt (PRAGMA quick_check: `);
    expect(err).toContain("restore it from a backup");
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  test("a damaged key file: one line naming it, exit 2, the file untouched and no new key made", async () => {
    using dir = tempDir();
    const file = join(dir.path, "keys/ed25519.jwk");
    mkdirSync(join(dir.path, "keys"), { mode: 0o700 });
    writeFileSync(file, '{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7', { mode: 0o600 });
    const { code, out, err } = await refusedStart(dir.path);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err.trimEnd().split("\n")).toHaveLength(1);
    expect(err).toStartWith(`parley: key file ${file} is not a usable Ed25519 private key (`);
    expect(readFileSync(file, "utf8")).toBe('{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7');
  });

  test("a read-only database file: one line naming it, exit 2 (not a server whose every write fails)", async () => {
    using dir = tempDir();
    const file = await realDatabase(dir.path, 10);
    chmodSync(file, 0o444);
    // Root writes through file modes, so as root the server runs as an unprivileged user instead.
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    if (as) {
      chownSync(dir.path, as.uid, as.gid);
      chownSync(file, as.uid, as.gid);
    }
    const { code, out, err } = await refusedStart(dir.path, as);
    expect(code, err).toBe(2);
    expect(out).toBe("");
    expect(err.trimEnd().split("\n")).toHaveLength(1);
    expect(err).toStartWith(`parley: database ${file} is read-only (SQLITE_READONLY`);
  });
});
