/**
 * Bot figures for `make bench` (issue 4): in-process, through the real domain functions, a real
 * SQLite file and the real sandbox (pooled workers, capped wasm), one table, medians.
 *   (g) what a warm bot adds to a post: post_message + the bot's answer committed, with vs without a bot
 *   (h) cold attach (announce + load + onInit)
 *   (i) full replay of a 10,000-message game (parley verify's replay)
 *   (j) memory per live bot (RSS growth per warm bot), and the pool's start-up
 *   (k) how many channels with live bots one process holds, and a post to a bot no longer warm
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as channels from "../../src/channels/index.ts";
import { BotPool, PRESETS, SandboxEngine } from "../../src/sandbox/index.ts";
import { SqliteStore } from "../../src/store/index.ts";
import { ed25519Signer, replayTranscript, TranscriptSchema } from "../../src/transcript/index.ts";
import { median, percentile } from "./stats.ts";
import { log } from "../../src/lib/log.ts";

// The channels code logs each channel it creates (info); 1,000 of them would bury the table.
log.configure({ level: "warn" });

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
  bots: channels.createBotsRuntime({ engine, presets: new Map(PRESETS), manifestOf: (code) => engine.manifestOf(code) }),
};
const rows: string[][] = [];
const ms = (v: number) => `${v.toFixed(3)} ms`;

async function channel(preset?: string, c = ctx) {
  const who = { principal: `p-${crypto.randomUUID()}` };
  const t0 = performance.now();
  const created = await channels.createChannel(c, who, { name: "bench", slots: ["invite:a", "invite:b", "bot:ref"], ...(preset ? { bot_preset: preset } : {}) });
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
// measurements would hide the cost); its rows are printed last. The workers start and take WARMUP
// bots before the count: a worker's own heap grows in steps over its first bots, a one-off cost
// shown on its own row.
const rss = () => {
  Bun.gc(true);
  return process.memoryUsage().rss;
};
const WARMUP = 20;
const N = 200;
const jPool = new BotPool();
const jEngine = new SandboxEngine(jPool, undefined, WARMUP + N);
const jCtx = { ...ctx, bots: channels.createBotsRuntime({ ...ctx.bots!, engine: jEngine }) };
const rssStart = rss();
for (let i = 0; i < WARMUP; i++) await channel("EchoBot", jCtx);
const rssBefore = rss();
for (let i = 0; i < N; i++) await channel("EchoBot", jCtx);
const perBot = (rss() - rssBefore) / N;
const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
const rowsJ = [
  [`(j) memory per live (warm) bot: RSS growth over ${N} EchoBot channels`, kib(perBot), `one capped wasm instance per bot on ${jPool.load.length} pooled workers`, "≤ 512 KiB", perBot <= 512 * 1024 ? "PASS" : "MISS"],
  [`(j') worker pool start-up with its first ${WARMUP} bots`, `${((rssBefore - rssStart) / 2 ** 20).toFixed(1)} MiB`, `${kib((rssBefore - rssStart) / WARMUP)} per bot for these first ones`, "", ""],
];

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
// The whole transcript as `parley verify` reads it (get_transcript hands it out in pages).
const transcript = TranscriptSchema.parse(JSON.parse((await Array.fromAsync(await channels.exportTranscript(ctx, dice.who, dice.id))).join("")));
const replayEngine = new SandboxEngine();
const t0 = performance.now();
const mismatch = await replayTranscript(transcript, replayEngine);
const replayMs = performance.now() - t0;
replayEngine.dispose();
if (mismatch) throw new Error(`replay failed: ${mismatch}`);
rows.push([`(i) replay of a ${transcript.messages.length.toLocaleString("en-US")}-message DiceBot game`, `${(replayMs / 1000).toFixed(2)} s`, "every bot message reproduced", "≤ 2 s", replayMs <= 2000 ? "PASS" : "MISS"]);

// (k) how many channels with live bots one process holds: bots beyond the warm set (256 by default,
// config bot_warm_instances) cost a database row until their next hook reloads them
const K = 1000;
const rssK = rss();
const many: Awaited<ReturnType<typeof channel>>[] = [];
const tK = performance.now();
for (let i = 0; i < K; i++) many.push(await channel("EchoBot"));
const createS = (performance.now() - tK) / 1000;
const perChannel = (rss() - rssK) / K;
const cold: number[] = [];
for (let i = 0; i < 100; i++) cold.push(await postRoundTrip(many[(i * 7) % 700]!, `cold ${i}`)); // the 744 oldest are not warm
rows.push([`(k) ${K.toLocaleString("en-US")} channels with a live EchoBot each (256 warm)`, `${kib(perChannel)} per channel`, `created in ${createS.toFixed(1)} s; a post to a cold bot + its answer (reload recorded): p50 ${ms(median(cold))}, p95 ${ms(percentile(cold, 95))}`, "", ""]);

rows.push(...rowsJ);
engine.dispose();
jEngine.dispose();
jPool.dispose();
store.close();
rmSync(dir, { recursive: true, force: true });

const header = ["bot measurement", "median", "detail", "target", "result"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log([line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n"));
