/**
 * Bots under attack (issue 9, items 7 and 8), against the real server started from source:
 *   (l) a bystander channel's EchoBot: post + its echo read back, p50 / p99 / max, on an idle server
 *       and while eight channels' inline bots run native calls only the worker kill stops; and what
 *       the attack wrote into the bystander's log (it must be nothing)
 *   (m) the server's RSS after CHANNELS channels each warmed a bot holding 20 MiB of module data
 *       (28 MiB of wasm memory), under bot_warm_memory_mb = 256
 *
 *   bun test/bench/bot-attack.ts [ROOT ...]
 *
 * Each ROOT is a checkout whose `src/main.ts` is served (default: this one), so one run compares a
 * change with the code before it (e.g. `git archive main | tar -x -C /tmp/before`, with a
 * node_modules link). Env: BENCH_ATTACK_SECONDS (default 20), BENCH_HEAVY_CHANNELS (default 32).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, syncUntil, type TestClient } from "../helpers/mcp-client.ts";
import { startServer } from "../helpers/start-server.ts";
import { median, percentile } from "./stats.ts";

const ATTACK_SECONDS = Number(process.env.BENCH_ATTACK_SECONDS ?? 20);
const HEAVY_CHANNELS = Number(process.env.BENCH_HEAVY_CHANNELS ?? 32);
const HOSTILE_CHANNELS = 8;
const WARM_MEMORY_MB = 256;

const hostileBot = `export default { onMessage(ctx, msg) { (3n ** 600000n).toString() + (3n ** 600000n).toString(); } };`;
const heavyBot = `const data = []; for (let i = 0; i < 20; i++) data.push(new Float64Array(1 << 17).fill(i));
export default { onMessage(ctx, msg) { ctx.post("bot", { n: data.length }); } };`;

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function channelWith(client: TestClient, name: string, bot: Record<string, string>) {
  const ch = await client.call("create_channel", { name, slots: ["invite:a", "bot:ref"], ...bot });
  await client.call("join_channel", { invite_code: ch.invites[0] });
  const head = await client.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
  return { id: ch.channel_id as string, cursor: head.cursor as number };
}

/** Post + the EchoBot's answer read back, repeatedly, until `until()`; the round trips in ms. */
async function roundTrips(client: TestClient, ch: { id: string; cursor: number }, until: () => boolean): Promise<number[]> {
  const times: number[] = [];
  while (!until()) {
    const text = `ping ${times.length}`;
    const t0 = performance.now();
    await client.call("post_message", { channel_id: ch.id, body: text });
    ch.cursor = (await syncUntil(client, ch.id, (ms) => ms.some((m) => m.body.echo === text), ch.cursor)).cursor;
    times.push(performance.now() - t0);
    await Bun.sleep(20);
  }
  return times;
}

async function measure(root: string): Promise<string[]> {
  await using server = await startServer({ command: [process.execPath, join(root, "src/main.ts")], env: { PARLEY_BOT_WARM_MEMORY_MB: String(WARM_MEMORY_MB) } });
  await using bystander = await connect(server.mcpUrl, "bystander");
  await using attacker = await connect(server.mcpUrl, "attacker");
  const pid = server.proc.pid;

  // (l) idle, then under attack
  const echo = await channelWith(bystander, "echo", { bot_preset: "EchoBot" });
  const logStart = echo.cursor;
  const idleUntil = performance.now() + 5_000;
  const idle = await roundTrips(bystander, echo, () => performance.now() > idleUntil);
  const hogs = await Promise.all(Array.from({ length: HOSTILE_CHANNELS }, (_, i) => channelWith(attacker, `hog ${i}`, { bot_code: hostileBot })));
  let attacking = true;
  let kills = 0;
  const attacks = hogs.map(async (hog) => {
    while (attacking) {
      await attacker.call("post_message", { channel_id: hog.id, body: "attack" });
      const read = await syncUntil(attacker, hog.id, (ms) => ms.some((m) => m.body.type === "bot:error"), hog.cursor);
      hog.cursor = read.cursor;
      kills++;
    }
  });
  await Bun.sleep(500);
  const attackUntil = performance.now() + ATTACK_SECONDS * 1000;
  const during = await roundTrips(bystander, echo, () => performance.now() > attackUntil);
  attacking = false;
  await Promise.all(attacks);
  const intruders: string[] = [];
  for (let cursor = logStart; ; ) {
    const page = await bystander.call("sync_messages", { channel_id: echo.id, cursor, timeout_ms: 0, limit: 1000 });
    if (page.messages.length === 0) break;
    intruders.push(...page.messages.filter((m: any) => m.kind === "system").map((m: any) => m.body.type));
    cursor = page.cursor;
  }

  // (m) warm bots holding 28 MiB each
  const rssBefore = rssMiB(pid);
  let refused = 0;
  for (let i = 0; i < HEAVY_CHANNELS; i++) {
    // On a starved machine a load can run past its 1 s deadline: counted, not fatal.
    const ch = await channelWith(attacker, `heavy ${i}`, { bot_code: heavyBot }).catch(() => null);
    if (!ch) {
      refused++;
      continue;
    }
    await attacker.call("post_message", { channel_id: ch.id, body: "hi" });
    await syncUntil(attacker, ch.id, (ms) => ms.some((m) => m.kind === "bot" || m.body.type === "bot:error"), ch.cursor);
  }
  const grown = rssMiB(pid) - rssBefore;

  return [
    `${ms(median(idle))} / ${ms(percentile(idle, 99))} (${idle.length})`,
    `${ms(median(during))} / ${ms(percentile(during, 99))} / ${ms(Math.max(...during))} (${during.length}; ${kills} hooks killed)`,
    intruders.length ? intruders.join(", ") : "none",
    `${grown.toFixed(0)} MiB (${(grown / HEAVY_CHANNELS).toFixed(1)} per channel${refused ? `; ${refused} loads past their deadline` : ""})`,
  ];
}

const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => resolve(r)) : [resolve(import.meta.dir, "../..")];
const columns: string[][] = [];
for (const root of roots) {
  console.error(`measuring ${root} …`);
  columns.push(await measure(root));
}
const labels = [
  "(l) bystander EchoBot round trip, idle: p50 / p99 (n)",
  `(l) same, ${HOSTILE_CHANNELS} channels' bots in native calls: p50 / p99 / max (n)`,
  "(l) system messages the attack wrote into the bystander's log",
  `(m) RSS growth, ${HEAVY_CHANNELS} channels warming a 28 MiB bot (bound ${WARM_MEMORY_MB} MiB)`,
];
const rows = [["measurement", ...roots], ...labels.map((label, i) => [label, ...columns.map((c) => c[i]!)])];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log([line(rows[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)].join("\n"));
