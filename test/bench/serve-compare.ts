/**
 * `parley serve` as wired before and after a change, in one run (issue 10: the data directory's
 * lock, the admin socket, src/server.ts binding the port before wiring): start-up to the first
 * HTTP 200 and idle RSS, and post_message through the whole stack (calls/s, server CPU per call),
 * each tree served from source (`bun src/main.ts`) and measured alternately so machine noise hits
 * both alike.
 *
 *   bun test/bench/serve-compare.ts --compare REV [--spawns 10] [--rounds 3] [--seconds 3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { signIn } from "../helpers/oauth.ts";
import { startServer } from "../helpers/start-server.ts";
import { BUN, measureRate, ROOT, vmRssKiB, checkout } from "./procs.ts";
import { median } from "./stats.ts";

const { values } = parseArgs({
  options: { compare: { type: "string" }, spawns: { type: "string", default: "10" }, rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "3" } },
});
if (!values.compare) throw new Error("usage: bun test/bench/serve-compare.ts --compare REV");
const SPAWNS = Number(values.spawns);
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);


/** One spawn: milliseconds to the first 200 at GET /, and VmRSS 300 ms later. */
async function startOnce(root: string): Promise<{ ms: number; rssKiB: number }> {
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-start-"));
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  await probe.stop(true);
  const t0 = performance.now();
  const proc = Bun.spawn([BUN, join(root, "src/main.ts"), "serve", "--port", String(port), "--data", dir], { cwd: dir, stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  try {
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => null);
      if (res?.status === 200) break;
      if (proc.exitCode !== null) throw new Error(`parley exited ${proc.exitCode} during start-up`);
      await Bun.sleep(1);
    }
    const ms = performance.now() - t0;
    await Bun.sleep(300);
    return { ms, rssKiB: vmRssKiB(proc.pid) };
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

using before = await checkout(values.compare);
const trees = [
  { name: `${values.compare} (before)`, root: before.root },
  { name: "this tree", root: ROOT },
];
const starts = trees.map(() => ({ ms: [] as number[], rss: [] as number[] }));
for (let i = 0; i < SPAWNS; i++) {
  for (const [t, tree] of trees.entries()) {
    const s = await startOnce(tree.root);
    starts[t]!.ms.push(s.ms);
    starts[t]!.rss.push(s.rssKiB);
  }
}

const servers = await Promise.all(trees.map((tree) => startServer({ command: [BUN, join(tree.root, "src/main.ts")] })));
const posts = trees.map(() => ({ rate: [] as number[], cpu: [] as number[] }));
try {
  const tokens = await Promise.all(servers.map((s) => Promise.all(Array.from({ length: 17 }, async () => (await signIn(s.url)).access_token))));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [t, server] of servers.entries()) {
      const r = await measureRate(server.proc.pid, { kind: "post", url: `http://127.0.0.1:${server.port}/mcp`, channels: 1, tokens: tokens[t], concurrency: 16, warmupMs: 500, durationMs: SECONDS * 1000 });
      if (r.errors) throw new Error(`${trees[t]!.name}: ${r.errors} failed requests, first: ${r.firstError}`);
      posts[t]!.rate.push(r.rate);
      posts[t]!.cpu.push(r.cpuUsPerCall);
      process.stdout.write(`round ${round} ${trees[t]!.name}: ${Math.round(r.rate)} calls/s, ${r.cpuUsPerCall.toFixed(0)} µs server CPU per call\n`);
    }
  }
} finally {
  for (const s of servers) await s[Symbol.asyncDispose]();
}

process.stdout.write(`\n| tree | start-up to first 200, median (min–max) of ${SPAWNS} | idle RSS | post_message calls/s, median of ${ROUNDS} | server CPU per call |\n|---|---|---|---|---|\n`);
for (const [t, tree] of trees.entries()) {
  const s = starts[t]!;
  const p = posts[t]!;
  process.stdout.write(
    `| ${tree.name} | ${median(s.ms).toFixed(1)} ms (${Math.min(...s.ms).toFixed(1)}–${Math.max(...s.ms).toFixed(1)}) | ${(median(s.rss) / 1024).toFixed(1)} MiB | ${Math.round(median(p.rate)).toLocaleString("en-US")} | ${median(p.cpu).toFixed(0)} µs |\n`,
  );
}
process.exit(0);
