import { describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { fetchFrom } from "../helpers/fetch-from.ts";
import { connect, wrapClient } from "../helpers/mcp-client.ts";
import { signIn } from "../helpers/oauth.ts";
import { startServer } from "../helpers/start-server.ts";

const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

async function rawPing(mcpUrl: string, sessionId: string, token: string) {
  return fetch(mcpUrl, {
    method: "POST",
    headers: { ...HEADERS, authorization: `Bearer ${token}`, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
  });
}

describe("MCP sessions", () => {
  test("DELETE ends a session; its id then gets 404 and a new initialize works", async () => {
    await using srv = await startServer();
    const c = await connect(srv.mcpUrl);
    const sid = c.transport.sessionId!;
    expect(sid).toMatch(/^[\x21-\x7e]+$/);
    expect((await rawPing(srv.mcpUrl, sid, c.token!)).status).toBe(200);
    await c.transport.terminateSession();
    const after = await rawPing(srv.mcpUrl, sid, c.token!);
    expect(after.status).toBe(404);
    expect((await after.json()).error.code).toBe(-32001);
    await using again = await connect(srv.mcpUrl);
    expect((await again.call("health_check")).status).toBe("ok");
    await c.client.close();
  });

  test("an idle session expires (PARLEY_SESSION_IDLE_SECONDS) and answers 404", async () => {
    await using srv = await startServer({ env: { PARLEY_SESSION_IDLE_SECONDS: "1" } });
    const c = await connect(srv.mcpUrl);
    const sid = c.transport.sessionId!;
    // Any request would refresh the session, so stay quiet past idle (1 s) + one sweep period (1 s).
    await Bun.sleep(2_500);
    const status = (await rawPing(srv.mcpUrl, sid, c.token!)).status;
    expect(status).toBe(404);
    await c.client.close();
  });

  test("a long poll outlives the default 10 s request timeout (SSE answers at /mcp are exempt)", async () => {
    await using srv = await startServer();
    await using c = await connect(srv.mcpUrl);
    const ch = await c.call("create_channel", { name: "quiet", slots: ["invite:a"] });
    await c.call("join_channel", { invite_code: ch.invites[0] });
    const head = await c.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
    const started = Date.now();
    const res = await c.call("sync_messages", { channel_id: ch.channel_id, cursor: head.cursor, timeout_ms: 12_000 });
    expect(res.messages).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(11_900);
  }, 30_000);
});


describe("session limits", () => {
  test("one identity keeps at most 32 sessions: opening a 33rd closes its least recently used one", async () => {
    await using srv = await startServer();
    const token = (await signIn(srv.url)).access_token;
    const open = async () => {
      const res = await fetch(srv.mcpUrl, {
        method: "POST",
        headers: { ...HEADERS, authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "hoarder", version: "1" } } }),
      });
      await res.body?.cancel();
      return res.headers.get("mcp-session-id")!;
    };
    const ids: string[] = [];
    for (let i = 0; i < 32; i++) ids.push(await open());
    for (const id of ids.slice(1)) expect((await rawPing(srv.mcpUrl, id, token)).status).toBe(200); // ids[0] is now the least recently used
    const newest = await open();
    expect((await rawPing(srv.mcpUrl, ids[0]!, token)).status).toBe(404);
    expect((await rawPing(srv.mcpUrl, newest, token)).status).toBe(200);
    expect((await rawPing(srv.mcpUrl, ids[1]!, token)).status).toBe(200);
    // Another identity is not affected by this one's hoarding.
    await using other = await connect(srv.mcpUrl, "other");
    expect((await other.call("health_check")).status).toBe("ok");
  });

  test("a sign-in flood from one address evicts its own sessions first: a user's idle session and long poll from another survive (issue 9, item 9)", async () => {
    await using srv = await startServer({ env: { PARLEY_MAX_SESSIONS: "12" } });
    const token = (await signIn(srv.url)).access_token;
    const fromUser = fetchFrom("127.0.0.2");
    const open = async (name: string) => {
      const client = new Client({ name, version: "1" });
      const transport = new StreamableHTTPClientTransport(new URL(srv.mcpUrl), { fetch: fromUser, requestInit: { headers: { authorization: `Bearer ${token}` } } });
      await client.connect(transport);
      return wrapClient(client, transport, token);
    };
    await using idle = await open("idle");
    await using poller = await open("poller");
    const ch = await idle.call("create_channel", { name: "mine", slots: ["invite:me"] });
    await idle.call("join_channel", { invite_code: ch.invites[0] });
    const head = await poller.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
    const poll = poller.call("sync_messages", { channel_id: ch.channel_id, cursor: head.cursor, timeout_ms: 20_000 });

    // 40 sign-ins from 127.0.0.3, each a new identity opening a session: the table (12) overflows 3 times over.
    const fromFlood = fetchFrom("127.0.0.3");
    const flooders: { sid: string; token: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const t = (await signIn(srv.url)).access_token;
      const res = await fromFlood(srv.mcpUrl, {
        method: "POST",
        headers: { ...HEADERS, authorization: `Bearer ${t}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "flood", version: "1" } } }),
      });
      await res.body?.cancel();
      expect(res.status).toBe(200);
      flooders.push({ sid: res.headers.get("mcp-session-id")!, token: t });
    }
    // The user's idle session still answers, and its post wakes the long poll, which was never cut.
    expect((await idle.call("health_check")).status).toBe("ok");
    await idle.call("post_message", { channel_id: ch.channel_id, body: "still here" });
    expect((await poll).messages.map((m: any) => m.body.text)).toEqual(["still here"]);
    // The flood paid for itself: its oldest sessions are gone, its newest answers.
    expect((await rawPing(srv.mcpUrl, flooders[0]!.sid, flooders[0]!.token)).status).toBe(404);
    expect((await rawPing(srv.mcpUrl, flooders[39]!.sid, flooders[39]!.token)).status).toBe(200);
  }, 60_000);

  test("one address holds at most max_sessions_per_address sessions, and with them their GET streams: past it, its oldest are closed", async () => {
    await using srv = await startServer({ env: { PARLEY_MAX_SESSIONS_PER_ADDRESS: "4" } });
    // Many identities (each keeps up to 32 sessions), one address, a GET stream held open per session.
    const fromAttacker = fetchFrom("127.0.0.3");
    const streams: { sid: string; token: string; ended: Promise<boolean> }[] = [];
    const openWithStream = async (from: typeof fetch) => {
      const token = (await signIn(srv.url)).access_token;
      const init = await from(srv.mcpUrl, {
        method: "POST",
        headers: { ...HEADERS, authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "s", version: "1" } } }),
      });
      await init.body?.cancel();
      const sid = init.headers.get("mcp-session-id")!;
      const headers = { authorization: `Bearer ${token}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
      await from(srv.mcpUrl, { method: "POST", headers: { ...HEADERS, ...headers }, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
      // Not awaited: a quiet GET stream sends its headers with its first event (a keep-alive, 15 s on).
      const ended = (async () => {
        const get = await from(srv.mcpUrl, { headers: { accept: "text/event-stream", ...headers } });
        const reader = get.body!.getReader();
        for (;;) if ((await reader.read()).done) return true;
      })().catch(() => true);
      return { sid, token, ended };
    };
    const user = await openWithStream(fetchFrom("127.0.0.2"));
    for (let i = 0; i < 10; i++) streams.push(await openWithStream(fromAttacker));
    // The six oldest of the attacker's ten streams were ended with their sessions; four are left.
    const after = (ms: number) => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms));
    const ended = await Promise.all(streams.map((s) => Promise.race([s.ended, after(2_000)])));
    expect(ended).toEqual([true, true, true, true, true, true, false, false, false, false]);
    expect((await rawPing(srv.mcpUrl, streams[0]!.sid, streams[0]!.token)).status).toBe(404);
    expect((await rawPing(srv.mcpUrl, streams[9]!.sid, streams[9]!.token)).status).toBe(200);
    // Another address's session and stream are untouched.
    expect(await Promise.race([user.ended, after(100)])).toBe(false);
    expect((await rawPing(srv.mcpUrl, user.sid, user.token)).status).toBe(200);
  }, 60_000);
});
