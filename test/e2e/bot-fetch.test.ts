import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, syncUntil } from "../helpers/mcp-client.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

const FETCHING_BOT = `
export const manifest = { name: "Oracle", version: "1.0.0", description: "Posts what an allowed URL says." };
export default {
  onMessage(ctx, msg) {
    const url = String(msg.body.text);
    try {
      const res = ctx.fetch(url);
      ctx.post("bot", { url, status: res.status, said: res.body });
    } catch (e) {
      ctx.post("bot", { url, refused: String(e.message) });
    }
  },
};`;

test("ctx.fetch reaches only hosts the operator allows; every response is recorded, and the replay needs no network", async () => {
  let hits = 0;
  const oracle = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(`answer #${++hits}`) });
  await using srv = await startServer({ env: { PARLEY_BOT_FETCH_HOSTS: "127.0.0.1" } });
  await using alice = await connect(srv.mcpUrl, "alice");
  const ch = await alice.call("create_channel", { name: "oracle", slots: ["invite:a", "bot:ref"], bot_code: FETCHING_BOT });
  await alice.call("join_channel", { invite_code: ch.invites[0] });
  const allowed = `http://127.0.0.1:${oracle.port}/q`;
  await alice.call("post_message", { channel_id: ch.channel_id, body: allowed });
  await alice.call("post_message", { channel_id: ch.channel_id, body: "http://localhost:9/elsewhere" });
  const { messages } = await syncUntil(alice, ch.channel_id, (ms) => ms.filter((m) => m.kind === "bot").length >= 2);
  const said = messages.filter((m) => m.kind === "bot").map((m) => m.body);
  expect(said).toEqual([
    { url: allowed, status: 200, said: "answer #1" },
    { url: "http://localhost:9/elsewhere", refused: "ctx.fetch http://localhost:9/elsewhere: host not allowed by this server" },
  ]);
  expect(hits).toBe(1);
  const records = messages.filter((m) => m.body.type === "bot:fetch");
  expect(records.map((m) => m.body.fetches)).toEqual([[{ url: allowed, status: 200, body: "answer #1" }], [{ url: "http://localhost:9/elsewhere", error: "host not allowed by this server" }]]);

  oracle.stop(true); // the replay must not need it
  await alice.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "close" }] });
  const transcript = await alice.call("get_transcript", { channel_id: ch.channel_id });
  using dir = tempDir();
  const file = join(dir.path, "t.json");
  writeFileSync(file, JSON.stringify(transcript));
  const verify = () => Bun.spawnSync([process.execPath, MAIN, "verify", file], { stdout: "pipe" });
  const ok = verify();
  expect(ok.stdout.toString()).toContain("replay: every bot message reproduced exactly");
  expect(ok.exitCode).toBe(0);
  expect(hits).toBe(1);

  // A recorded response is hashed into the chain like any message: changing it afterwards is caught.
  const lied = structuredClone(transcript);
  lied.messages.find((m: any) => m.body.type === "bot:fetch").body.fetches[0].body = "answer #999";
  writeFileSync(file, JSON.stringify(lied));
  const caught = verify();
  expect(caught.exitCode).toBe(1);
  expect(caught.stdout.toString()).toMatch(/FAIL  message \d+: hash mismatch/);
});

test("by default no host is allowed: the bot gets a refusal it can handle, and the refusal is recorded", async () => {
  await using srv = await startServer();
  await using alice = await connect(srv.mcpUrl, "alice");
  const ch = await alice.call("create_channel", { name: "closed world", slots: ["invite:a", "bot:ref"], bot_code: FETCHING_BOT });
  await alice.call("join_channel", { invite_code: ch.invites[0] });
  await alice.call("post_message", { channel_id: ch.channel_id, body: `http://127.0.0.1:${srv.port}/` });
  const { messages } = await syncUntil(alice, ch.channel_id, (ms) => ms.some((m) => m.kind === "bot"));
  expect(messages.find((m) => m.kind === "bot").body.refused).toContain("host not allowed");
  expect(messages.find((m) => m.body.type === "bot:fetch").body.fetches[0].error).toBe("host not allowed by this server");
});
