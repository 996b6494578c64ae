import { expect, test } from "bun:test";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { startServer } from "../helpers/start-server.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

test("a long poll that waited past its token's revocation delivers nothing: UNAUTHENTICATED instead of the news", async () => {
  await using srv = await startServer();
  const cli = (...args: string[]) => Bun.spawnSync([process.execPath, MAIN, "token", ...args, "--data", srv.dataDir, "--port", String(srv.port)], { stdout: "pipe", stderr: "pipe" });
  const issued = cli("issue", "--agent", "watcher", "--servers", "channels", "--ttl", "1h");
  expect(issued.exitCode).toBe(0);
  const token = issued.stdout.toString().trim();
  const id = /Agent token (agt_\S+)/.exec(issued.stderr.toString())![1]!;

  await using watcher = await connect(srv.mcpUrl, "watcher", { token });
  await using poster = await connect(srv.mcpUrl, "poster");
  const ch = await poster.call("create_channel", { name: "watched", slots: ["invite:w", "invite:p"] });
  await watcher.call("join_channel", { invite_code: ch.invites[0] });
  await poster.call("join_channel", { invite_code: ch.invites[1] });
  const head = await watcher.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });

  const waiting = watcher.raw("sync_messages", { channel_id: ch.channel_id, cursor: head.cursor, timeout_ms: 20_000 });
  await Bun.sleep(1_200); // the poll must have waited past the re-check threshold (1 s)
  expect(cli("revoke", id).exitCode).toBe(0);
  await poster.call("post_message", { channel_id: ch.channel_id, body: "secret news" });
  const res = await waiting;
  expect(res.isError).toBe(true);
  const text = (res.content[0] as { text: string }).text;
  expect(text).toStartWith("UNAUTHENTICATED:");
  expect(JSON.stringify(res)).not.toContain("secret news");
});

test("a transcript subscription stops pushing once the session's token is revoked", async () => {
  await using srv = await startServer();
  const cli = (...args: string[]) => Bun.spawnSync([process.execPath, MAIN, "token", ...args, "--data", srv.dataDir, "--port", String(srv.port)], { stdout: "pipe", stderr: "pipe" });
  const issued = cli("issue", "--agent", "listener", "--servers", "channels", "--ttl", "1h");
  const token = issued.stdout.toString().trim();
  const id = /Agent token (agt_\S+)/.exec(issued.stderr.toString())![1]!;

  await using listener = await connect(srv.mcpUrl, "listener", { token });
  await using poster = await connect(srv.mcpUrl, "poster");
  const ch = await poster.call("create_channel", { name: "pushed", slots: ["invite:l", "invite:p"] });
  await listener.call("join_channel", { invite_code: ch.invites[0] });
  await poster.call("join_channel", { invite_code: ch.invites[1] });
  const uri = `channel://${ch.channel_id}/transcript`;
  let updates = 0;
  listener.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void updates++);
  await listener.client.subscribeResource({ uri });
  const settle = () => Bun.sleep(300);

  await poster.call("post_message", { channel_id: ch.channel_id, body: "before" });
  await settle();
  expect(updates).toBe(1);
  expect(cli("revoke", id).exitCode).toBe(0);
  await poster.call("post_message", { channel_id: ch.channel_id, body: "after" });
  await poster.call("post_message", { channel_id: ch.channel_id, body: "after again" });
  await settle();
  expect(updates).toBe(1);
});
