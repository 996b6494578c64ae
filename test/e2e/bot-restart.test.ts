import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, syncUntil } from "../helpers/mcp-client.ts";
import { signIn } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const dataDir = mkdtempSync(join(tmpdir(), "parley-bot-restart-"));
const started: ServerProcess[] = [];
afterAll(async () => {
  for (const s of started) await s[Symbol.asyncDispose]();
  rmSync(dataDir, { recursive: true, force: true });
});

test("a bot answers every message exactly once across SIGKILLs, and the closed transcript still replays", async () => {
  let srv = await startServer({ dataDir });
  started.push(srv);
  const port = srv.port;
  const token = (await signIn(srv.url)).access_token;
  let client = await connect(srv.mcpUrl, "player", { token });
  const ch = await client.call("create_channel", { name: "dice", slots: ["invite:p", "bot:ref"], bot_preset: "DiceBot" });
  await client.call("join_channel", { invite_code: ch.invites[0] });
  const posted: number[] = [];
  for (let round = 0; round < 3; round++) {
    // Post, then kill at once: the bot may not have answered yet; its catch-up must do it after restart.
    for (let i = 0; i < 5; i++) posted.push((await client.call("post_message", { channel_id: ch.channel_id, body: "!roll 2d6" })).msg_id);
    await srv.kill("SIGKILL");
    srv = await startServer({ dataDir, port });
    started.push(srv);
    client = await connect(srv.mcpUrl, "player", { token });
  }
  const isRoll = (m: any) => m.kind === "bot" && m.body.roll === "2d6";
  const { messages } = await syncUntil(client, ch.channel_id, (ms) => ms.filter(isRoll).length >= posted.length);
  const answered = messages.filter(isRoll).map((m) => m.reply_to);
  expect(answered.sort((a, b) => a - b)).toEqual(posted);

  await client.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "close" }] });
  const transcript = await client.call("get_transcript", { channel_id: ch.channel_id });
  const file = join(dataDir, "transcript.json");
  writeFileSync(file, JSON.stringify(transcript));
  const r = Bun.spawnSync([process.execPath, MAIN, "verify", file], { stdout: "pipe" });
  expect(r.stdout.toString()).toContain("replay: every bot message reproduced exactly");
  expect(r.exitCode).toBe(0);
});
