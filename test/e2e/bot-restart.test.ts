import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SandboxEngine } from "../../src/sandbox/index.ts";
import { replayTranscript } from "../../src/transcript/index.ts";
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

test("a restart reloads a bot's module: its module-level variables start over, a bot:reload records it, and the transcript still replays", async () => {
  const srv1 = await startServer({ dataDir: mkdtempSync(join(dataDir, "reload-")) });
  started.push(srv1);
  const token = (await signIn(srv1.url)).access_token;
  let client = await connect(srv1.mcpUrl, "player", { token });
  // Counts in a module variable (what bots/README.md tells authors not to rely on) and in its state.
  const bot_code = `let seen = 0;
    export default { onMessage(ctx, msg) { seen++; const s = (ctx.getState() ?? 0) + 1; ctx.setState(s); ctx.post("bot", { seen, state: s }); } };`;
  const ch = await client.call("create_channel", { name: "count", slots: ["invite:p", "bot:ref"], bot_code });
  await client.call("join_channel", { invite_code: ch.invites[0] });
  const counts = (ms: any[]) => ms.filter((m) => m.kind === "bot").map((m) => [m.body.seen, m.body.state]);
  for (const text of ["a", "b"]) await client.call("post_message", { channel_id: ch.channel_id, body: text });
  await syncUntil(client, ch.channel_id, (ms) => counts(ms).length === 2);

  await srv1.kill("SIGKILL");
  const srv2 = await startServer({ dataDir: srv1.dataDir, port: srv1.port });
  started.push(srv2);
  client = await connect(srv2.mcpUrl, "player", { token });
  const third = await client.call("post_message", { channel_id: ch.channel_id, body: "c" });
  const { messages } = await syncUntil(client, ch.channel_id, (ms) => counts(ms).length === 3);
  expect(counts(messages)).toEqual([[1, 1], [2, 2], [1, 3]]);
  const reload = messages.find((m: any) => m.body.type === "bot:reload");
  expect(reload).toMatchObject({ kind: "system", reply_to: third.msg_id });
  expect(messages.indexOf(reload)).toBeLessThan(messages.findIndex((m: any) => m.kind === "bot" && m.reply_to === third.msg_id));

  await client.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "close" }] });
  const transcript = await client.call("get_transcript", { channel_id: ch.channel_id });
  const file = join(srv1.dataDir, "transcript.json");
  writeFileSync(file, JSON.stringify(transcript));
  const r = Bun.spawnSync([process.execPath, MAIN, "verify", file], { stdout: "pipe" });
  expect(r.stdout.toString()).toContain("replay: every bot message reproduced exactly");
  expect(r.exitCode).toBe(0);

  // Without the record a replay keeps counting, and a reload pinned on a message no hook saw is refused.
  const engine = new SandboxEngine();
  const dropped = structuredClone(transcript);
  dropped.messages = dropped.messages.filter((m: any) => m.body.type !== "bot:reload");
  expect(await replayTranscript(dropped, engine)).toMatch(/message \d+ differs from the replay .*"seen":1.*"seen":3/);
  const stray = structuredClone(transcript);
  stray.messages.push({ ...stray.messages.find((m: any) => m.body.type === "bot:reload"), reply_to: 1 });
  expect(await replayTranscript(stray, engine)).toMatch(/bot:reload claims a hook for message 1, which triggers no hook/);
  const otherEngine = structuredClone(transcript);
  otherEngine.bots[0].engine = "quickjs-other-build";
  expect(await replayTranscript(otherEngine, engine)).toMatch(/cannot replay bot \S+: it ran on engine "quickjs-other-build", this verifier has "quickjs-/);
  engine.dispose();
});

/**
 * Two channels with the same module-level-counting bot, posted to in turn on one server that can
 * keep only one of them warm: each post finds the other bot loaded, so every answer follows a
 * recorded reload (the count starts over), and both closed transcripts replay.
 */
async function twoBotsEvictingEachOther(env: Record<string, string>, bot_code: string, answer: (seen: number) => unknown, fileTag: string) {
  await using srv = await startServer({ env });
  const token = (await signIn(srv.url)).access_token;
  await using client = await connect(srv.mcpUrl, "player", { token });
  const ids: string[] = [];
  for (const name of ["one", "two"]) {
    const ch = await client.call("create_channel", { name, slots: ["invite:p", "bot:ref"], bot_code });
    await client.call("join_channel", { invite_code: ch.invites[0] });
    ids.push(ch.channel_id);
  }
  for (let round = 0; round < 3; round++) {
    for (const id of ids) {
      await client.call("post_message", { channel_id: id, body: `r${round}` });
      await syncUntil(client, id, (ms) => ms.filter((m) => m.kind === "bot").length === round + 1);
    }
  }
  for (const id of ids) {
    const { messages } = await syncUntil(client, id, () => true);
    expect(messages.filter((m: any) => m.kind === "bot").map((m: any) => m.body)).toEqual([1, 1, 1].map(answer));
    expect(messages.filter((m: any) => m.body.type === "bot:reload").length).toBe(3);
    await client.call("update_channel", { channel_id: id, ops: [{ type: "close" }] });
    const file = join(dataDir, `${fileTag}-${id}.json`);
    writeFileSync(file, JSON.stringify(await client.call("get_transcript", { channel_id: id })));
    const r = Bun.spawnSync([process.execPath, MAIN, "verify", file], { stdout: "pipe" });
    expect(r.stdout.toString()).toContain("replay: every bot message reproduced exactly");
    expect(r.exitCode).toBe(0);
  }
}

test("with one warm instance (bot_warm_instances = 1), two busy bots keep evicting each other; every reload is recorded and both transcripts replay", async () => {
  const bot_code = `let seen = 0;
    export default { onMessage(ctx, msg) { seen++; ctx.post("bot", { seen }); } };`;
  await twoBotsEvictingEachOther({ PARLEY_BOT_WARM_INSTANCES: "1" }, bot_code, (seen) => ({ seen }), "warm");
});

test("under bot_warm_memory_mb, bots holding 28 MiB each evict one another; every reload is recorded and both transcripts replay", async () => {
  // 28 MiB of wasm memory plus its thread: two do not fit in 64 MiB (one at its 32 MiB cap while a hook runs).
  const bot_code = `const data = []; for (let i = 0; i < 20; i++) data.push(new Float64Array(1 << 17).fill(i));
    let seen = 0;
    export default { onMessage(ctx, msg) { seen++; ctx.post("bot", { seen, data: data.length }); } };`;
  await twoBotsEvictingEachOther({ PARLEY_BOT_WARM_MEMORY_MB: "64" }, bot_code, (seen) => ({ seen, data: 20 }), "memory");
}, 60_000);
