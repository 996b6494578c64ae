/**
 * Bot figures for `make bench` (issue 4): in-process, through the real domain functions, a real
 * SQLite file and the real sandbox (pooled workers, capped wasm), one table, medians.
 *   (g) what a warm bot adds to a post: post_message + the bot's answer committed, with vs without a bot
 *   (h) cold attach (announce + load + onInit)
 *   (i) full replay of a 10,000-message game (parley verify's replay)
 *   (j) memory per live bot (RSS growth per warm bot)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as channels from "../../src/channels/index.ts";
import { BotPool, PRESETS, SandboxEngine } from "../../src/sandbox/index.ts";
import { SqliteStore } from "../../src/store/index.ts";
import { ed25519Signer, replayTranscript } from "../../src/transcript/index.ts";
import { median, percentile } from "./stats.ts";

const dir = mkdtempSync(join(tmpdir(), "parley-bench-bots-"));
const store = new SqliteStore(dir);
const engine = new SandboxEngine();
const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
const x = ((await crypto.subtle.exportKey("jwk", pair.publicKey)) as { x: string }).x;
const ctx: channels.ChannelsContext = {
  store,
  notifier: new channels.Notifier(),
  limits: { maxMessageBytes: 65536 },
  signer: ed25519Signer(pair.privateKey, "bench", { kty: "OKP", crv: "Ed25519", x }),
  issuer: "http://localhost:8201",
  bots: { engine, presets: new Map(PRESETS), manifestOf: (code) => engine.manifestOf(code) },
};
const rows: string[][] = [];
const ms = (v: number) => `${v.toFixed(3)} ms`;

async function channel(preset?: string, c = ctx) {
  const who = { principal: `p-${crypto.randomUUID()}` };
  const t0 = performance.now();
  const created = await channels.createChannel(c, who, { name: "bench", slots: ["invite:a", "invite:b"], ...(preset ? { bot_preset: preset } : {}) });
  const attachMs = performance.now() - t0;
  await channels.joinChannel(c, who, { invite_code: created.invites[0]! });
  await channels.runBots(c, created.channel_id);
  return { who, id: created.channel_id, attachMs };
}

/** A post and everything it causes (the bot's answer) committed. */
async function postRoundTrip(c: { who: { principal: string }; id: string }, text: string) {
  const t0 = performance.now();
  await channels.postMessage(ctx, c.who, { channel_id: c.id, body: text });
  await channels.runBots(ctx, c.id);
  return performance.now() - t0;
}

// (j) memory per live bot, measured first and on a pool of its own (memory freed by the other
// measurements would hide the cost); its row is printed last
const jPool = new BotPool();
const jEngine = new SandboxEngine(jPool);
const jCtx = { ...ctx, bots: { ...ctx.bots!, engine: jEngine } };
for (let i = 0; i < jPool.load.length; i++) await channel("EchoBot", jCtx); // start every worker
Bun.gc(true);
const rssBefore = process.memoryUsage().rss;
const N = 100;
for (let i = 0; i < N; i++) await channel("EchoBot", jCtx);
Bun.gc(true);
const perBot = (process.memoryUsage().rss - rssBefore) / N;
const rowJ = [`(j) memory per live (warm) bot, RSS growth over ${N} bots`, `${(perBot / 1024).toFixed(0)} KiB`, "one capped wasm instance per bot on a shared worker pool; 256 kept warm, others restart cold", "≤ 512 KiB", perBot <= 512 * 1024 ? "PASS" : "MISS"];

// (g) warm bot cost
const plain = await channel();
const echo = await channel("EchoBot");
const withBot: number[] = [];
const without: number[] = [];
for (let i = 0; i < 1000; i++) {
  without.push(await postRoundTrip(plain, `m${i}`));
  withBot.push(await postRoundTrip(echo, `m${i}`));
}
const added = median(withBot) - median(without);
rows.push(["(g) post without a bot / with a warm EchoBot (answer committed), p50", `${ms(median(without))} / ${ms(median(withBot))}`, `added ${ms(added)}; p99 with bot ${ms(percentile(withBot, 99))}`, "≤ 0.3 ms added", added <= 0.3 ? "PASS" : "MISS"]);

// (h) cold attach
const attaches: number[] = [];
for (let i = 0; i < 15; i++) attaches.push((await channel("GuessBot")).attachMs);
rows.push(["(h) cold attach (create + announce + load + onInit)", ms(median(attaches)), `p95 ${ms(percentile(attaches, 95))}, 15 attaches`, "", ""]);

// (i) replay of a 10,000-message DiceBot game
const dice = await channel("DiceBot");
for (let i = 0; i < 5000; i++) await channels.postMessage(ctx, dice.who, { channel_id: dice.id, body: "!roll 3d6" });
await channels.runBots(ctx, dice.id);
await channels.updateChannel(ctx, dice.who, { channel_id: dice.id, ops: [{ type: "close" }] });
const transcript = await channels.getTranscript(ctx, dice.who, { channel_id: dice.id });
const replayEngine = new SandboxEngine();
const t0 = performance.now();
const mismatch = await replayTranscript(transcript, replayEngine);
const replayMs = performance.now() - t0;
replayEngine.dispose();
if (mismatch) throw new Error(`replay failed: ${mismatch}`);
rows.push([`(i) replay of a ${transcript.messages.length.toLocaleString("en-US")}-message DiceBot game`, `${(replayMs / 1000).toFixed(2)} s`, "every bot message reproduced", "≤ 2 s", replayMs <= 2000 ? "PASS" : "MISS"]);

rows.push(rowJ);
engine.dispose();
jEngine.dispose();
jPool.dispose();
store.close();
rmSync(dir, { recursive: true, force: true });

const header = ["bot measurement", "median", "detail", "target", "result"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log([line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n"));
