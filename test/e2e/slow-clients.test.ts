import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { signIn } from "../helpers/oauth.ts";
import { after, openRaw, slowBodyHead, trickle, type RawConnection } from "../helpers/raw-http.ts";
import { startServer } from "../helpers/start-server.ts";

const ROOT = resolve(import.meta.dir, "../..");
const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const INITIALIZE = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };
/** The second loopback address: the attacker, while the honest clients come from 127.0.0.1. */
const ATTACKER = "127.0.0.2";
/**
 * The attack declared 100,000 bytes; /register now refuses a declared length over its cap
 * (8 KiB) before reading, so the slow bodies here declare less, to meet the body deadline instead.
 */
const SLOW_BODY_BYTES = 4_000;

describe("slow clients (issue 9, item 2)", () => {
  // Each test has its own server and mostly waits on timers: they run side by side.
  test.concurrent("a slow-body flood from one address: past the per-address cap each request gets 429 and is closed, and a new client's initialize answers", async () => {
    // At the default fd limit (20,000) the issue needed 10,000 connections (test/bench/slow-body-flood.ts);
    // a limit of 1,024 makes 2,000 enough to exhaust the server if it holds them.
    await using srv = await startServer({ command: ["prlimit", "--nofile=1024:1024", "--", process.execPath, join(ROOT, "src/main.ts")] });
    // A declared length under the registration cap (a larger one is refused before it is read).
    const head = slowBodyHead(srv.port, "/register", SLOW_BODY_BYTES, '{"a":1');
    const attack: RawConnection[] = [];
    for (let i = 0; i < 2_000; i += 100) {
      const batch = Array.from({ length: 100 }, () => openRaw(srv.port, head, { localAddress: ATTACKER }));
      const opened = await Promise.race([Promise.all(batch), after(5_000, null)]);
      if (!opened) break; // the server stopped accepting: the honest client below will tell
      attack.push(...opened);
    }

    const newcomer = await Promise.race([connect(srv.mcpUrl, "newcomer"), after(10_000, null)]);
    expect(newcomer).not.toBeNull();
    expect((await newcomer!.call("health_check")).status).toBe("ok");
    await newcomer![Symbol.asyncDispose]();

    // The refused ones were closed at once; the ones under the cap at their body deadline (10 s).
    const allClosed = await Promise.race([Promise.all(attack.map((c) => c.closed)).then(() => true), after(30_000, false)]);
    expect(attack.length).toBe(2_000);
    expect(allClosed).toBe(true);
    const refused = attack.filter((c) => c.status() === 429);
    expect(refused.length).toBeGreaterThanOrEqual(2_000 - 64);
    expect(refused[0]!.received()).toMatch(/\r\nconnection: close\r\n/i);
    expect(refused[0]!.received()).toContain("RATE_LIMITED");
    for (const c of attack) c.socket.destroy();
  }, 60_000);

  test.concurrent("a request body that stalls, trickles or stops mid-chunk is closed after request_timeout_seconds", async () => {
    await using srv = await startServer({ env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "2" } });
    const stalled = await openRaw(srv.port, slowBodyHead(srv.port, "/register", SLOW_BODY_BYTES, '{"a":1'));
    const trickling = await openRaw(srv.port, slowBodyHead(srv.port, "/register", SLOW_BODY_BYTES, ""));
    trickle(trickling, " ".repeat(SLOW_BODY_BYTES), 100);
    const chunked = await openRaw(srv.port, `POST /register HTTP/1.1\r\nHost: localhost:${srv.port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"a":1\r\n`);
    // Unauthenticated at /mcp: answered 401 before the body, then the connection must not wait for it.
    const unread = await openRaw(srv.port, slowBodyHead(srv.port, "/mcp", 100_000, '{"a":1', { accept: MCP_HEADERS.accept }));
    for (const conn of [stalled, trickling, chunked, unread]) {
      // Generous bound: the deadline is 2 s, Bun checks timeouts every 4 s.
      expect(await Promise.race([conn.closed, after(12_000, "still open")])).toBeNumber();
    }
    expect(unread.status()).toBe(401);
    expect(await stalled.closed).toBeGreaterThanOrEqual(1_900);
    expect(await trickling.closed).toBeGreaterThanOrEqual(1_900);
  }, 30_000);

  test.concurrent("a chunked request body that does arrive is still served", async () => {
    await using srv = await startServer({ env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "2" } });
    const token = (await signIn(srv.url)).access_token;
    const bytes = new TextEncoder().encode(JSON.stringify(INITIALIZE));
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // Two chunks with a pause between them: the second arrives well within the deadline.
        controller.enqueue(bytes.slice(0, 20));
        await Bun.sleep(300);
        controller.enqueue(bytes.slice(20));
        controller.close();
      },
    });
    const res = await fetch(srv.mcpUrl, { method: "POST", headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBeString();
    expect(await res.text()).toContain('"protocolVersion"');
  });

  test.concurrent("headers that trickle are closed: Bun's own 10 s before a first request, request_timeout_seconds before a later one", async () => {
    await using srv = await startServer({ env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "2" } });
    const lines = `GET / HTTP/1.1\r\nHost: localhost:${srv.port}\r\nX-Pad: ${"a".repeat(500)}\r\n\r\n`;
    const first = await openRaw(srv.port, "");
    trickle(first, lines, 200);
    // A kept-alive connection: one request answered, then the next one's headers trickle.
    const later = await openRaw(srv.port, `GET / HTTP/1.1\r\nHost: localhost:${srv.port}\r\n\r\n`);
    await Promise.race([new Promise<void>((r) => later.socket.once("data", () => r())), after(5_000, undefined)]);
    expect(later.status()).toBe(200);
    trickle(later, lines, 200);
    expect(await Promise.race([later.closed, after(12_000, "still open")])).toBeNumber();
    expect(await Promise.race([first.closed, after(20_000, "still open")])).toBeNumber();
  }, 40_000);

  test.concurrent("a long poll and a quiet GET SSE stream stay open past request_timeout_seconds", async () => {
    await using srv = await startServer({ env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "2" } });
    await using c = await connect(srv.mcpUrl);
    const ch = await c.call("create_channel", { name: "quiet", slots: ["invite:a"] });
    await c.call("join_channel", { invite_code: ch.invites[0] });
    const head = await c.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });

    // A standalone GET stream of its own session, read raw: nothing is sent on it but the SDK's
    // keep-alive comment every 15 s, so one arriving proves the stream outlived the 2 s deadline.
    const token = c.token!;
    const init = await fetch(srv.mcpUrl, { method: "POST", headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: JSON.stringify(INITIALIZE) });
    const sid = init.headers.get("mcp-session-id")!;
    await init.body?.cancel();
    const streamHeaders = { authorization: `Bearer ${token}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
    await fetch(srv.mcpUrl, { method: "POST", headers: { ...MCP_HEADERS, ...streamHeaders }, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
    // Bun sends the headers with the first chunk: the SDK's first keep-alive, 15 s after the GET.
    const opened = Date.now();
    const keepalive = (async () => {
      const get = await fetch(srv.mcpUrl, { headers: { ...streamHeaders, accept: "text/event-stream" } });
      expect(get.status).toBe(200);
      const reader = get.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return `ended after ${Date.now() - opened} ms`;
        if (new TextDecoder().decode(value).includes(": keepalive")) {
          await reader.cancel();
          return Date.now() - opened;
        }
      }
    })();

    const started = Date.now();
    const poll = await c.call("sync_messages", { channel_id: ch.channel_id, cursor: head.cursor, timeout_ms: 8_000 });
    expect(poll.messages).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(7_900);

    expect(await Promise.race([keepalive, after(25_000, "no keep-alive")])).toBeGreaterThanOrEqual(14_000);
  }, 45_000);

  test.concurrent("a GET stream the server ends leaves a connection that times out when idle, like any other", async () => {
    await using srv = await startServer({ env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "2" } });
    const token = (await signIn(srv.url)).access_token;
    const init = await fetch(srv.mcpUrl, { method: "POST", headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: JSON.stringify(INITIALIZE) });
    const sid = init.headers.get("mcp-session-id")!;
    await init.body?.cancel();
    const streamHeaders = { authorization: `Bearer ${token}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
    const headerLines = Object.entries({ ...streamHeaders, accept: "text/event-stream" })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    const stream = await openRaw(srv.port, `GET /mcp HTTP/1.1\r\nHost: localhost:${srv.port}\r\n${headerLines}\r\n`);
    // Ending the session ends its GET stream (an empty body, or the last chunk); the client keeps the connection.
    const complete = (text: string) => (/\r\ncontent-length: 0\r\n/i.test(text) && text.endsWith("\r\n\r\n")) || text.includes("\r\n0\r\n\r\n");
    const ended = new Promise<void>((resolve) => stream.socket.on("data", () => complete(stream.received()) && resolve()));
    expect((await fetch(srv.mcpUrl, { method: "DELETE", headers: streamHeaders })).status).toBe(200);
    expect(await Promise.race([ended.then(() => "ended"), after(20_000, "not ended")])).toBe("ended");
    expect(await Promise.race([stream.closed, after(12_000, "still open")])).toBeNumber();
  }, 45_000);
});
