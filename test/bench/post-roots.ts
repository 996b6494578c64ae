/**
 * Not part of `make bench`: `bun test/bench/post-roots.ts [ROOT ...]` serves each ROOT's
 * `src/main.ts` (default: this checkout) and measures post_message through /mcp (16 seated
 * sessions in one channel, the load generator of run.ts), rounds alternating between the roots
 * (in turn first) so that machine noise hits each alike; prints calls/s and the server's CPU per call (medians).
 * To compare a change with the code before it in one run, give both trees, e.g. the commit before:
 * `git archive BASE | tar -x -C /tmp/before && ln -s "$PWD/node_modules" /tmp/before/`.
 *
 * Env: BENCH_ROUNDS (5), BENCH_SECONDS (3), BENCH_CONCURRENCY (16).
 */
import { resolve } from "node:path";
import { signIn } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";
import { measureRate, ROOT } from "./procs.ts";
import { median } from "./stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => resolve(r)) : [ROOT];

const servers: { root: string; server: ServerProcess; tokens: string[]; runs: { rate: number; cpu: number }[] }[] = [];
try {
  for (const root of roots) {
    const server = await startServer({ command: [process.execPath, resolve(root, "src/main.ts")] });
    // Signed in once per server, for every round (sign-ins are rate-limited per address).
    const tokens = await Promise.all(Array.from({ length: CONCURRENCY + 1 }, async () => (await signIn(server.url)).access_token));
    servers.push({ root, server, tokens, runs: [] });
  }
  for (let round = 1; round <= ROUNDS; round++) {
    // Every other round in reverse order, so that neither tree always runs first.
    for (const s of round % 2 ? servers : [...servers].reverse()) {
      const m = await measureRate(s.server.proc.pid, {
        kind: "post",
        url: `http://127.0.0.1:${s.server.port}/mcp`,
        tokens: s.tokens,
        concurrency: CONCURRENCY,
        warmupMs: 500,
        durationMs: SECONDS * 1000,
      });
      if (m.errors) throw new Error(`${s.root}: ${m.errors} failed requests, first: ${m.firstError}`);
      s.runs.push({ rate: m.rate, cpu: m.cpuUsPerCall });
    }
    process.stdout.write(`round ${round}/${ROUNDS}: ${servers.map((s) => `${s.runs.at(-1)!.cpu.toFixed(1)} µs`).join(" / ")}\n`);
  }
} finally {
  await Promise.all(servers.map((s) => s.server[Symbol.asyncDispose]()));
}
process.stdout.write(`\n| tree | post_message calls/s (median) | server CPU µs/call (median) | per round |\n|---|---|---|---|\n`);
for (const s of servers) {
  const rate = median(s.runs.map((r) => r.rate));
  const cpu = median(s.runs.map((r) => r.cpu));
  process.stdout.write(`| ${s.root} | ${Math.round(rate).toLocaleString("en-US")} | ${cpu.toFixed(1)} | ${s.runs.map((r) => r.cpu.toFixed(0)).join(", ")} |\n`);
}
process.exit(0);
