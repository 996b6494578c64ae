import { expect, test } from "bun:test";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { resolve } from "node:path";
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
    revoke: () => expect(cli("revoke", tokenId).exitCode).toBe(0),
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
