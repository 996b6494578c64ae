import { describe, expect, test } from "bun:test";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import * as channels from "../../../src/channels/index.ts";
import type { Identity } from "../../../src/identity.ts";
import { channelTools, createMcpServer, McpEndpoint, ToolTable } from "../../../src/mcp/index.ts";
import { SqliteStore } from "../../../src/store/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

/**
 * The real MCP endpoint in-process (real SDK transport and servers, real SQLite), driven with
 * Requests, so a test can hold WeakRefs to what a session allocates and see it collected.
 */
async function endpointWithBigChannel(options: { maxSessions?: number } = {}) {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  const ctx: channels.ChannelsContext = { store, notifier: new channels.Notifier(), limits: { maxMessageBytes: 64 * 1024 } };
  const alice = { principal: "alice" };
  const created = await channels.createChannel(ctx, alice, { name: "big", slots: ["invite:a"] });
  await channels.joinChannel(ctx, alice, { invite_code: created.invites[0]! });
  for (let i = 0; i < 8; i++) await channels.postMessage(ctx, alice, { channel_id: created.channel_id, body: "\u0001".repeat(64 * 1024) });
  const table = new ToolTable(channelTools(ctx, "test"));
  const servers: WeakRef<McpServer>[] = [];
  const endpoint = new McpEndpoint({
    createServer: (auth) => {
      const server = createMcpServer({ version: "test", channels: ctx, table, auth });
      servers.push(new WeakRef(server));
      return server;
    },
    idleMs: 60_000,
    maxBodyBytes: 1 << 20,
    answerTurns: 0,
    ...options,
  });
  return {
    endpoint,
    servers,
    channelId: created.channel_id,
    [Symbol.dispose]() {
      void endpoint.close();
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

const identity: Identity = { subject: "alice", servers: ["channels"], grantId: "g", clientId: null, token: "t", expiresAt: 4_000_000_000 };

function post(body: unknown, sid?: string): Request {
  return new Request("http://localhost/mcp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(sid ? { "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" } : {}),
    },
    body: JSON.stringify(body),
  });
}

/** initialize + initialized + one sync_messages page of big messages; returns the session id. */
async function sessionWithBigAnswer(endpoint: McpEndpoint, channelId: string, address = "127.0.0.1"): Promise<string> {
  const init = await endpoint.handle(
    post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } }),
    identity,
    address,
  );
  await init.text();
  const sid = init.headers.get("mcp-session-id")!;
  await (await endpoint.handle(post({ jsonrpc: "2.0", method: "notifications/initialized" }, sid), identity, address)).text();
  const page = await endpoint.handle(post({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "sync_messages", arguments: { channel_id: channelId, timeout_ms: 0 } } }, sid), identity, address);
  expect((await page.text()).length).toBeGreaterThan(800_000);
  return sid;
}

/** How many of `refs` are collected once `expected` are, or after 5 s (closing streams lets go over a few turns). */
async function collected(refs: WeakRef<object>[], expected: number): Promise<number> {
  const gone = () => refs.filter((r) => r.deref() === undefined).length;
  for (const deadline = Date.now() + 15_000; gone() < expected && Date.now() < deadline; ) {
    Bun.gc(true);
    await Bun.sleep(20);
  }
  return gone();
}

describe("McpEndpoint: a session's memory goes when the session ends", () => {
  const endings: [string, (e: McpEndpoint, sid: string) => Promise<void>][] = [
    ["DELETE", async (e, sid) => void (await (await e.handle(new Request("http://localhost/mcp", { method: "DELETE", headers: { "mcp-session-id": sid } }), identity, "127.0.0.1")).text())],
    ["idle expiry", async (e) => void e.closeIdle(Date.now() + 3_600_000)],
  ];
  for (const [name, end] of endings) {
    test(`after ${name}, its server, transport and kept answers are unreachable and the event budget is back to zero`, async () => {
      using env = await endpointWithBigChannel();
      const sids: string[] = [];
      for (let i = 0; i < 6; i++) sids.push(await sessionWithBigAnswer(env.endpoint, env.channelId));
      expect(env.endpoint.eventBudget.total).toBeGreaterThan(6 * 700_000);
      for (const sid of sids) await end(env.endpoint, sid);
      expect(env.endpoint.sessionCount).toBe(0);
      expect(env.endpoint.eventBudget.total).toBe(0);
      expect(await collected(env.servers, 6)).toBe(6);
    }, 30_000);
  }

  test("an evicted session's memory goes too", async () => {
    using env = await endpointWithBigChannel({ maxSessions: 2 });
    for (let i = 0; i < 6; i++) await sessionWithBigAnswer(env.endpoint, env.channelId);
    expect(env.endpoint.sessionCount).toBe(2);
    expect(await collected(env.servers, 4)).toBe(4);
  }, 30_000);
});
