import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { join, resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { startServer } from "../helpers/start-server.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

/**
 * A server, an agent (signed in with a `parley token issue` token the test can revoke) and a poster,
 * both seated in one channel.
 */
async function agentAndPoster(agentName: string) {
  const srv = await startServer();
  const cli = (...args: string[]) => Bun.spawnSync([process.execPath, MAIN, "token", ...args, "--data", srv.dataDir, "--port", String(srv.port)], { stdout: "pipe", stderr: "pipe" });
  const issued = cli("issue", "--agent", agentName, "--servers", "channels", "--ttl", "1h");
  expect(issued.exitCode).toBe(0);
  const tokenId = /Agent token (agt_\S+)/.exec(issued.stderr.toString())![1]!;
  const agent = await connect(srv.mcpUrl, agentName, { token: issued.stdout.toString().trim() });
  const poster = await connect(srv.mcpUrl, "poster");
  const ch = await poster.call("create_channel", { name: agentName, slots: ["invite:agent", "invite:poster"] });
  await agent.call("join_channel", { invite_code: ch.invites[0] });
  await poster.call("join_channel", { invite_code: ch.invites[1] });
  return {
    agent,
    poster,
    channelId: ch.channel_id as string,
    mcpUrl: srv.mcpUrl,
    revoke: () => expect(cli("revoke", tokenId).exitCode).toBe(0),
    /** Edits the agent's grant row in the server's store (for states no command makes). */
    editGrant(sql: string, ...params: (string | number)[]) {
      const db = new Database(join(srv.dataDir, "parley.db"));
      try {
        db.run("PRAGMA busy_timeout = 5000");
        db.run(`UPDATE grants SET ${sql} WHERE id = ?`, [...params, tokenId]);
      } finally {
        db.close();
      }
    },
    async [Symbol.asyncDispose]() {
      await agent[Symbol.asyncDispose]();
      await poster[Symbol.asyncDispose]();
      await srv[Symbol.asyncDispose]();
    },
  };
}

test("a long poll that waited past its token's revocation delivers nothing: UNAUTHENTICATED instead of the news", async () => {
  await using env = await agentAndPoster("watcher");
  const { agent: watcher, poster, channelId } = env;
  const ch = { channel_id: channelId };
  const head = await watcher.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });

  const waiting = watcher.raw("sync_messages", { channel_id: ch.channel_id, cursor: head.cursor, timeout_ms: 20_000 });
  await Bun.sleep(1_200); // the poll must have waited past the re-check threshold (1 s)
  env.revoke();
  await poster.call("post_message", { channel_id: ch.channel_id, body: "secret news" });
  const res = await waiting;
  expect(res.isError).toBe(true);
  const text = (res.content[0] as { text: string }).text;
  expect(text).toStartWith("UNAUTHENTICATED:");
  expect(JSON.stringify(res)).not.toContain("secret news");
});

test("a transcript subscription stops pushing once the session's token is revoked", async () => {
  await using env = await agentAndPoster("listener");
  const { agent: listener, poster } = env;
  const ch = { channel_id: env.channelId };
  const uri = `channel://${ch.channel_id}/transcript`;
  let updates = 0;
  listener.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void updates++);
  await listener.client.subscribeResource({ uri });
  const settle = () => Bun.sleep(300);

  await poster.call("post_message", { channel_id: ch.channel_id, body: "before" });
  await settle();
  expect(updates).toBe(1);
  env.revoke();
  await poster.call("post_message", { channel_id: ch.channel_id, body: "after" });
  await poster.call("post_message", { channel_id: ch.channel_id, body: "after again" });
  await settle();
  expect(updates).toBe(1);
});

// The request check and the open-stream check (pushes, long polls) apply one rule (auth's
// tokenRefusal): a grant past its own expiry, or no longer its token's subject's, stops both. The
// open-stream check once looked only at revocation and the token's expiry, so these states, which
// no command makes today, stopped new requests while open streams went on.
for (const [what, sql, params] of [
  ["has expired", "expires_at = ?", [Date.now() - 1_000]],
  ["belongs to another subject", "subject = ?", ["agent:someone-else"]],
] as const) {
  test(`a grant that ${what} stops a new request, an open stream's next push and a waiting long poll alike`, async () => {
    await using env = await agentAndPoster("stream");
    const { agent, poster, channelId } = env;
    let updates = 0;
    agent.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void updates++);
    await agent.client.subscribeResource({ uri: `channel://${channelId}/transcript` });
    await poster.call("post_message", { channel_id: channelId, body: "before" });
    await Bun.sleep(300);
    expect(updates).toBe(1);
    const head = await agent.call("sync_messages", { channel_id: channelId, timeout_ms: 0 });
    const waiting = agent.raw("sync_messages", { channel_id: channelId, cursor: head.cursor, timeout_ms: 20_000 });
    await Bun.sleep(1_200); // past the long poll's re-check threshold (1 s)

    env.editGrant(sql, ...params);
    await poster.call("post_message", { channel_id: channelId, body: "secret news" });
    const answer = await waiting;
    expect((answer.content[0] as { text: string }).text).toStartWith("UNAUTHENTICATED:");
    expect(JSON.stringify(answer)).not.toContain("secret news");
    await Bun.sleep(300);
    expect(updates).toBe(1);
    const fresh = await fetch(env.mcpUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${agent.token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(fresh.status).toBe(401);
    expect(fresh.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });
}
