import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { connect, syncUntil } from "../helpers/mcp-client.ts";
import { CookieJar, pkcePair, registerClient, REDIRECT_URI, tokenRequest } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

/** One log entry, whichever format it came in. */
interface Entry {
  time: string;
  level: string;
  msg: string;
  stack?: string;
  [field: string]: unknown;
}

/** Text lines: `TIME LEVEL msg key=value …`, values bare or JSON-quoted; a stack follows on indented lines. */
function parseText(stderr: string): Entry[] {
  const entries: Entry[] = [];
  for (const line of stderr.split("\n")) {
    if (!line) continue;
    if (line.startsWith("    ")) {
      const last = entries.at(-1)!;
      last.stack = `${last.stack ?? ""}${line.trim()}\n`;
      continue;
    }
    const m = /^(\S+) (ERROR|WARN|INFO|DEBUG) +(.*?)((?: [a-z_]+=(?:"(?:[^"\\]|\\.)*"|\S*))*)$/.exec(line);
    if (!m) throw new Error(`not a log line: ${JSON.stringify(line)}`);
    const entry: Entry = { time: m[1]!, level: m[2]!.toLowerCase(), msg: m[3]! };
    for (const f of m[4]!.matchAll(/ ([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) entry[f[1]!] = f[2]!.startsWith('"') ? JSON.parse(f[2]!) : f[2]!;
    entries.push(entry);
  }
  return entries;
}

function parseJson(stderr: string): Entry[] {
  return stderr
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const entry = JSON.parse(line) as Entry;
      expect(typeof entry.time).toBe("string");
      return entry;
    });
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !check(); await Bun.sleep(10)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/** The subject (`sub`) of an access token (a JWT; its payload is not secret to its holder). */
const subjectOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sub as string;

const THROWING_BOT = `export default { onMessage(ctx, msg) { if (msg.kind === "user") throw new Error("the bot refuses " + msg.body.text); } };`;

/**
 * Everything a log should record, and every secret a request can carry: a sign-in (code, PKCE
 * verifier, browser cookie, access and refresh tokens), tool calls with their session id, invite
 * and rejoin codes, a transcript download key, query strings carrying `code=`, `key=` and
 * `access_token=`, a bot that fails, an internal error in a tool call and one at /register, and the
 * passcode. Then SIGTERM.
 */
async function exercise(server: ServerProcess, passcode: string) {
  const base = server.url;
  const secrets: string[] = [passcode];
  await (await fetch(`${base}/?code=querycode${"q".repeat(20)}&key=dl_querykey${"k".repeat(20)}`)).text();
  secrets.push(`querycode${"q".repeat(20)}`, `dl_querykey${"k".repeat(20)}`);
  expect((await fetch(`${base}/healthz`)).status).toBe(200);

  // A sign-in through the passcode page, as a browser does it.
  const client = await registerClient(base);
  const { verifier, challenge } = pkcePair();
  const jar = new CookieJar();
  const form = { response_type: "code", client_id: client.client_id, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: "S256", state: "st", resource: `${base}/mcp` };
  const page = await fetch(`${base}/authorize`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(base).origin },
    body: new URLSearchParams({ ...form, passcode }),
    redirect: "manual",
  });
  jar.store(page);
  expect(page.status).toBe(302);
  const code = new URL(page.headers.get("location")!).searchParams.get("code")!;
  const cookie = jar.header().cookie!.split("=")[1]!;
  const tokens = (await (
    await tokenRequest(base, { grant_type: "authorization_code", code, code_verifier: verifier, client_id: client.client_id, redirect_uri: REDIRECT_URI, resource: `${base}/mcp` })
  ).json()) as { access_token: string; refresh_token: string };
  const refreshed = (await (await tokenRequest(base, { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id })).json()) as {
    access_token: string;
    refresh_token: string;
  };
  secrets.push(code, verifier, cookie, tokens.access_token, tokens.refresh_token, refreshed.access_token, refreshed.refresh_token);
  // The token in the query string is refused; it must not be written down either.
  expect((await fetch(`${base}/mcp?access_token=${refreshed.access_token}`, { method: "POST" })).status).toBe(400);

  await using alice = await connect(server.mcpUrl, "alice", { token: refreshed.access_token });
  secrets.push(alice.transport.sessionId!);
  const created = await alice.call("create_channel", { name: "logged", slots: ["invite:a", "bot:ref"], bot_code: THROWING_BOT });
  const joined = await alice.call("join_channel", { invite_code: created.invites[0] });
  secrets.push(created.invites[0], joined.rejoin_token);
  await alice.call("post_message", { channel_id: created.channel_id, body: "hello" });
  // What the log must say of the bot: its failures as the channel records them (it throws; on a
  // loaded machine its first hook may be stopped at the deadline instead).
  const botErrors = (await syncUntil(alice, created.channel_id, (ms) => ms.some((m) => m.body.type === "bot:error"))).messages
    .filter((m) => m.body.type === "bot:error")
    .map((m) => ({ bot: m.body.bot_id as string, reason: m.body.reason as string, message: m.body.message as string }));
  const transcript = await alice.call("get_transcript", { channel_id: created.channel_id });
  const download = await fetch(transcript.download_url);
  expect(download.status).toBe(200);
  await download.text();
  secrets.push(new URL(transcript.download_url).searchParams.get("key")!);

  // An internal error (a bug, not a storage failure): a trigger someone added to the database refuses one message, and one client registration.
  const db = new Database(join(server.dataDir, "parley.db"));
  db.run("PRAGMA busy_timeout = 5000");
  db.run(`CREATE TRIGGER explode BEFORE INSERT ON messages WHEN json_extract(NEW.body, '$.text') = 'explode' BEGIN SELECT RAISE(ABORT, 'the trigger says no'); END`);
  db.run(`CREATE TRIGGER explode_clients BEFORE INSERT ON oauth_clients WHEN json_extract(NEW.metadata, '$.client_name') = 'explode' BEGIN SELECT RAISE(ABORT, 'no clients today'); END`);
  db.close();
  const toolError = await alice.error("post_message", { channel_id: created.channel_id, body: "explode" });
  const registration = await fetch(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [REDIRECT_URI], client_name: "explode", token_endpoint_auth_method: "none" }),
  });
  const registrationError = { status: registration.status, body: (await registration.json()) as { error: string; error_description: string } };

  await alice.call("update_channel", { channel_id: created.channel_id, ops: [{ type: "close" }] });
  await alice.client.close();
  await server.kill("SIGTERM");
  return { secrets, subject: subjectOf(refreshed.access_token), channelId: created.channel_id as string, botErrors, toolError, registrationError };
}

const RANK = { error: 0, warn: 1, info: 2, debug: 3 } as const;
type Level = keyof typeof RANK;

/** Each level once, the two formats alternating; one through the flags, one through the environment. */
const CASES: { level: Level; format: "text" | "json"; how: "flags" | "env" }[] = [
  { level: "error", format: "json", how: "flags" },
  { level: "warn", format: "text", how: "env" },
  { level: "info", format: "json", how: "env" },
  { level: "debug", format: "text", how: "flags" },
];

describe("logs", () => {
  for (const { level, format, how } of CASES) {
    test(`--log-level ${level} --log-format ${format} (${how}): the lines of that level and above, no token or secret in any, an internal error's id in the log and in the answer, its stack only at debug`, async () => {
      const passcode = `pass-${crypto.randomUUID()}`;
      const options =
        how === "flags"
          ? { args: ["--log-level", level, "--log-format", format, "--passcode", passcode] }
          : { args: ["--passcode", passcode], env: { PARLEY_LOG_LEVEL: level, PARLEY_LOG_FORMAT: format } };
      await using server = await startServer(options);
      const run = await exercise(server, passcode);
      await until("the process to end", () => server.proc.exitCode !== null);
      // The pipe may still hold the last lines after exit.
      await Bun.sleep(100);
      const stderr = server.stderr();
      const entries = format === "json" ? parseJson(stderr) : parseText(stderr);
      const shown = (l: Level) => RANK[l] <= RANK[level];

      // Nothing below the level, and every line well-formed (parsed above) with a time.
      for (const e of entries) {
        expect(RANK[e.level as Level]).toBeLessThanOrEqual(RANK[level]);
        expect(new Date(e.time).toISOString()).toBe(e.time);
      }
      for (const secret of run.secrets) expect(stderr).not.toContain(secret);
      // The passcode page's form, the token endpoint's body: never written down, not even in part.
      for (const token of run.secrets.filter((s) => s.length > 40)) expect(stderr).not.toContain(token.slice(-24));

      // An internal error: a readable line with an id the client was given too; the stack only at debug.
      const toolId = /^INTERNAL_ERROR: Unexpected server error \(error (err_[0-9a-f]{8})\)$/.exec(run.toolError)?.[1];
      expect(toolId).toBeDefined();
      expect(run.registrationError.status).toBe(500);
      expect(run.registrationError.body.error).toBe("server_error");
      const registrationId = /\(error (err_[0-9a-f]{8})\)/.exec(run.registrationError.body.error_description)?.[1];
      expect(registrationId).toBeDefined();
      for (const [id, cause] of [
        [toolId, "the trigger says no"],
        [registrationId, "no clients today"],
      ] as const) {
        const logged = entries.filter((e) => e.error_id === id);
        expect(logged).toHaveLength(1);
        expect(logged[0]).toMatchObject({ level: "error", msg: "internal error" });
        expect(String(logged[0]!.error)).toContain(cause);
        if (shown("debug")) expect(logged[0]!.stack).toMatch(/\bat /);
        else expect(logged[0]!.stack).toBeUndefined();
      }
      expect(stderr).not.toMatch(/ {20}/); // no padded source excerpts

      const bot = entries.filter((e) => e.msg === "bot error");
      if (shown("warn")) {
        expect(run.botErrors.length).toBeGreaterThanOrEqual(1);
        for (const { bot: id, reason, message } of run.botErrors) {
          expect(bot).toContainEqual(expect.objectContaining({ level: "warn", channel: run.channelId, bot: id, reason, error: message }));
        }
      } else expect(bot).toEqual([]);

      const requests = entries.filter((e) => e.msg === "request");
      const caller = `usr_${run.subject.slice(4, 12)}`;
      if (shown("info")) {
        const mcp = requests.filter((e) => e.path === "/mcp");
        expect(mcp.length).toBeGreaterThan(5);
        for (const e of requests) {
          expect(Object.keys(e)).toEqual(expect.arrayContaining(["method", "path", "status", "ms"]));
          expect(Number(e.ms)).toBeGreaterThanOrEqual(0);
        }
        const signedIn = mcp.filter((e) => Number(e.status) === 200 && e.method === "POST");
        expect(signedIn.length).toBeGreaterThan(3);
        for (const e of signedIn) expect(e.caller).toBe(caller);
        expect(requests.map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual(
          expect.arrayContaining(["GET / 200", "POST /register 201", "POST /authorize 302", "POST /token 200", "POST /mcp 400", `GET /transcripts/${run.channelId} 200`, "POST /register 500"]),
        );
        expect(entries.filter((e) => e.msg === "sign-in")).toEqual([expect.objectContaining({ level: "info", caller })]);
        expect(entries.find((e) => e.msg === "channel created")).toMatchObject({ channel: run.channelId, caller });
        expect(entries.find((e) => e.msg === "channel closed")).toMatchObject({ channel: run.channelId, caller });
        expect(entries[0]).toMatchObject({ level: "info", msg: "started" });
        expect(entries.map((e) => e.msg)).toEqual(expect.arrayContaining(["stopping", "stopped"]));
        expect(entries.find((e) => e.msg === "stopping")).toMatchObject({ signal: "SIGTERM" });
      } else {
        expect(requests).toEqual([]);
        expect(entries.filter((e) => e.level === "info")).toEqual([]);
      }
      // /healthz answers load balancers every few seconds: its 200s only at debug.
      expect(requests.some((e) => e.path === "/healthz")).toBe(shown("debug"));
    });
  }

  test("a bad --log-level or PARLEY_LOG_FORMAT: one line naming it, exit 2", async () => {
    for (const [args, env, name] of [
      [["--log-level", "verbose"], {}, "--log-level"],
      [[], { PARLEY_LOG_FORMAT: "xml" }, "PARLEY_LOG_FORMAT"],
    ] as const) {
      const r = Bun.spawnSync([process.execPath, MAIN, "serve", "--port", "0", "--data", "/nonexistent/never-made", ...args], { env: { ...process.env, ...env }, stderr: "pipe", stdout: "pipe" });
      expect(r.exitCode).toBe(2);
      const err = r.stderr.toString();
      expect(err.trimEnd().split("\n")).toHaveLength(1);
      expect(err).toContain(name);
    }
  });
});
