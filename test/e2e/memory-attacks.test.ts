import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { signIn } from "../helpers/oauth.ts";
import { after, openRaw } from "../helpers/raw-http.ts";
import { RawMcpSession } from "../helpers/raw-mcp.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Issue 9 item 1: one signed-in caller posts messages of 64 KiB of U+0001 (6 characters each in
 * JSON, ~13 in an MCP answer) and reads them back in large pages, to take the server's memory and
 * stall everyone. Figures for the exact attack: test/bench/attack-memory.ts.
 */
const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const MAX_ANSWER = 1024 * 1024;
/** The answer around the messages: JSON-RPC envelope, SSE framing, view, cursor; and a transcript's last-page header. */
const SLACK = 64 * 1024;
const BIG = "\u0001".repeat(64 * 1024);

function rssMiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  } catch {
    return 0; // the process is gone
  }
}

/** Samples the server's RSS every 20 ms while in scope: `using rss = watchRss(pid)`, then `rss.peak` (MiB). */
function watchRss(pid: number) {
  const w = { peak: rssMiB(pid), [Symbol.dispose]: () => clearInterval(timer) };
  const timer = setInterval(() => (w.peak = Math.max(w.peak, rssMiB(pid))), 20);
  return w;
}

/**
 * Another caller (its own identity and session) calling health_check back to back while in scope:
 * `await using b = bystander(url)`, then `await b.stop()` for its slowest answer (ms) and its count.
 */
function bystander(mcpUrl: string) {
  let running = true;
  let slowest = 0;
  let calls = 0;
  const done = (async () => {
    await using c = await connect(mcpUrl, "bystander");
    while (running) {
      const started = performance.now();
      await c.call("health_check");
      slowest = Math.max(slowest, performance.now() - started);
      calls++;
      await Bun.sleep(5);
    }
  })();
  const stop = async () => {
    running = false;
    await done;
    return { slowest, calls };
  };
  return { stop, [Symbol.asyncDispose]: async () => void (await stop().catch(() => {})) };
}

async function bigChannel(mcpUrl: string, token: string, messages: number) {
  const s = await RawMcpSession.open(mcpUrl, token);
  const ch = await s.tool("create_channel", { name: "big", slots: ["invite:a"] });
  await s.tool("join_channel", { invite_code: ch.invites[0] });
  for (let i = 0; i < messages; i++) await s.tool("post_message", { channel_id: ch.channel_id, body: BIG });
  return { s, channelId: ch.channel_id as string };
}

const verify = (...args: string[]) => {
  const r = Bun.spawnSync([process.execPath, MAIN, "verify", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
};

describe("one caller cannot take the server's memory or stall others (issue 9, item 1)", () => {
  test("sync_messages {limit: 200} over 200 messages of 64 KiB of U+0001, 25 times: bounded pages that say more and where to go on; others answer meanwhile; RSS bounded", async () => {
    await using srv = await startServer();
    const token = (await signIn(srv.url)).access_token;
    const { s, channelId } = await bigChannel(srv.mcpUrl, token, 200);
    using rss = watchRss(srv.proc.pid);
    await using other = bystander(srv.mcpUrl);
    for (let i = 0; i < 25; i++) {
      const { value, bytes } = await s.call("sync_messages", { channel_id: channelId, cursor: 0, limit: 200, timeout_ms: 0 });
      expect(bytes).toBeLessThan(MAX_ANSWER + SLACK);
      expect(value.messages.length).toBeGreaterThanOrEqual(1);
      expect(value.more).toBe(true);
      expect(value.cursor).toBe(value.messages.at(-1).id);
    }
    // Following the cursor reads every message exactly once, in order, and the last page says so.
    const ids: number[] = [];
    for (let cursor = 0, more = true; more; ) {
      const { value, bytes } = await s.call("sync_messages", { channel_id: channelId, cursor, limit: 200, timeout_ms: 0 });
      expect(bytes).toBeLessThan(MAX_ANSWER + SLACK);
      ids.push(...value.messages.map((m: { id: number }) => m.id));
      [cursor, more] = [value.cursor, value.more];
    }
    expect(ids).toHaveLength(202); // channel:create, slot:join, 200 posts
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const { slowest, calls } = await other.stop();
    // Generous bounds that prove the mechanism (before: answers of 169 MB, 2.7 GiB RSS, 1.7 s stalls).
    expect(calls).toBeGreaterThan(10);
    expect(slowest).toBeLessThan(1_000);
    expect(rss.peak).toBeLessThan(500);
    await s.close();
  }, 120_000);

  test("get_transcript over 100 messages of 64 KiB of U+0001: bounded pages whose join verifies, and a streamed download that `parley verify URL` accepts", async () => {
    await using srv = await startServer();
    const token = (await signIn(srv.url)).access_token;
    const { s, channelId } = await bigChannel(srv.mcpUrl, token, 100);
    using rss = watchRss(srv.proc.pid);
    await using other = bystander(srv.mcpUrl);
    const messages: unknown[] = [];
    let last: any;
    let pages = 0;
    for (let cursor = 0; ; pages++) {
      const { value, bytes } = await s.call("get_transcript", { channel_id: channelId, ...(cursor ? { cursor } : {}) });
      expect(bytes).toBeLessThan(MAX_ANSWER + SLACK);
      expect(value.download_url).toStartWith(`${srv.url}/transcripts/${channelId}?key=dl_`);
      messages.push(...value.messages);
      if (!value.more) {
        last = value;
        break;
      }
      expect(value.signature).toBeUndefined();
      cursor = value.cursor;
    }
    expect(pages).toBeGreaterThan(10);
    expect(messages).toHaveLength(102);

    // The pages' messages in order with the last page's header are the whole transcript.
    using dir = tempDir();
    const file = join(dir.path, "joined.json");
    const { cursor: _c, more: _m, download_url: _d, ...header } = last;
    writeFileSync(file, JSON.stringify({ ...header, messages }));
    const joined = verify(file);
    expect(joined.out).toContain("ok    hash chain: 102 messages");
    expect(joined.code).toBe(0);

    // One page alone is refused with the reason.
    writeFileSync(join(dir.path, "page.json"), JSON.stringify((await s.call("get_transcript", { channel_id: channelId })).value));
    const page = verify(join(dir.path, "page.json"));
    expect(page.code).toBe(1);
    expect(page.out).toContain("one page of get_transcript");

    // The download: streamed from the store, checked against the server's published key.
    const online = verify(last.download_url);
    expect(online.out).toContain("matches the server's published JWKS");
    expect(online.code).toBe(0);

    const { slowest } = await other.stop();
    expect(slowest).toBeLessThan(1_000);
    expect(rss.peak).toBeLessThan(500);
    await s.close();
  }, 180_000);

  test("a download link works only for its channel, while its holder may read the channel", async () => {
    await using srv = await startServer();
    await using alice = await connect(srv.mcpUrl, "alice");
    await using bob = await connect(srv.mcpUrl, "bob");
    const ch = await alice.call("create_channel", { name: "duel", slots: ["invite:a", "invite:b"] });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    await bob.call("join_channel", { invite_code: ch.invites[1] });
    const other = await bob.call("create_channel", { name: "other", slots: ["invite:x"] });
    const url = new URL((await bob.call("get_transcript", { channel_id: ch.channel_id })).download_url);

    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toStartWith("application/json");
    expect((await ok.json()).messages).toHaveLength(3);

    const wrongKey = await fetch(`${srv.url}/transcripts/${ch.channel_id}?key=dl_${"A".repeat(22)}`);
    expect(wrongKey.status).toBe(401);
    expect((await wrongKey.json()).error).toBe("UNAUTHENTICATED");
    expect((await fetch(`${srv.url}/transcripts/${other.channel_id}${url.search}`)).status).toBe(401);
    expect((await fetch(`${srv.url}/transcripts/${ch.channel_id}`)).status).toBe(401);

    await alice.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "kick", slot_id: "s1" }] });
    const kicked = await fetch(url);
    expect(kicked.status).toBe(403);
    expect((await kicked.json()).error).toBe("NOT_MEMBER");
  });

  test("a download outlives request_timeout_seconds for a slow reader, and one caller holds at most a few downloads open", async () => {
    // A download that takes longer than the request timeout (2 s here) still arrives whole.
    await using srv = await startServer({ env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "2" } });
    await using alice = await connect(srv.mcpUrl, "alice");
    const ch = await alice.call("create_channel", { name: "big", slots: ["invite:a"] });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    const text = "x".repeat(64 * 1024);
    // ~20 MB: more than loopback's socket buffers hold, so the reader's pause holds the sender up.
    for (let i = 0; i < 300; i++) await alice.call("post_message", { channel_id: ch.channel_id, body: text });
    const url = new URL((await alice.call("get_transcript", { channel_id: ch.channel_id })).download_url);

    const slow = await openRaw(srv.port, `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: localhost:${srv.port}\r\nConnection: close\r\n\r\n`);
    // A reader that keeps reading, slowly, for 8 s: past the 2 s timeout and Bun's 4 s check.
    for (let i = 0; i < 25; i++) {
      slow.socket.pause();
      await Bun.sleep(300);
      slow.socket.resume();
      await Bun.sleep(20);
    }
    await Promise.race([slow.closed, after(30_000, 0)]);
    expect(slow.status()).toBe(200);
    const received = slow.received();
    expect(received).toContain('"signature":');
    expect(received.endsWith("0\r\n\r\n")).toBe(true); // the last chunk: the whole transcript arrived

    // Readers that never read: each holds a connection and a page of the store, so one caller
    // gets only a few at once; the next is refused until one ends.
    const held = await Promise.all(Array.from({ length: 4 }, () => fetch(url)));
    const statuses = held.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200).length).toBe(2);
    const refused = held.find((r) => r.status === 429)!;
    expect((await refused.json()).error).toBe("RATE_LIMITED");
    for (const r of held) await r.body?.cancel().catch(() => {});
    // Once they are gone, downloads work again.
    let again: Response | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await again?.body?.cancel().catch(() => {});
      again = await fetch(url);
      if (again.status !== 200) await Bun.sleep(100);
    }
    expect(again!.status).toBe(200);
    expect((await again!.json()).messages).toHaveLength(302);
  }, 60_000);
});
