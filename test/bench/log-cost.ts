/**
 * What a log line per request costs: post_message server CPU per call (all threads, /proc/PID/stat)
 * and calls/s, through the whole stack as in `make bench` (c), for each server below, in rounds
 * that alternate between them so machine noise hits all alike. Medians are printed.
 *
 *   bun test/bench/log-cost.ts [BEFORE_ROOT]
 *
 * Servers: BEFORE_ROOT's code if given (e.g. `git archive main | tar -x -C /tmp/before` with a
 * node_modules link), then this checkout at --log-level info (a line per request) and at warn
 * (none). Each runs its `dist/parley` if built, else `bun src/main.ts`. Stderr goes to a file, as
 * under systemd it goes to journald: the lines are really written.
 * Env: BENCH_ROUNDS (6, after a warm-up round), BENCH_SECONDS (3), BENCH_CONCURRENCY (16).
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signIn } from "../helpers/oauth.ts";
import { BUN, measureRate, ROOT, type MeasuredRate } from "./procs.ts";
import { median } from "./stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

interface Server {
  name: string;
  pid: number;
  url: string;
  dir: string;
  tokens: string[];
  stop(): Promise<void>;
}

async function start(name: string, root: string, args: string[]): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "parley-log-cost-"));
  const bin = join(root, "dist/parley");
  const command = existsSync(bin) ? [bin] : [BUN, join(root, "src/main.ts")];
  const proc = Bun.spawn([...command, "serve", "--port", "0", "--data", dir, ...args], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: Bun.file(join(dir, "stderr.log")) });
  let out = "";
  for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
    out += chunk;
    if (/serving at http:\/\/\S+:\d+/.test(out)) break;
  }
  const port = /serving at http:\/\/\S+:(\d+)/.exec(out)?.[1];
  if (!port) throw new Error(`${name} did not start: ${out}`);
  const url = `http://127.0.0.1:${port}`;
  const tokens = await Promise.all(Array.from({ length: CONCURRENCY + 1 }, async () => (await signIn(url)).access_token));
  return {
    name: `${name} (${command.length === 1 ? "dist/parley" : "src"})`,
    pid: proc.pid,
    url,
    dir,
    tokens,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const before = process.argv[2];
const servers = [
  ...(before ? [await start(`before (${before})`, before, [])] : []),
  await start("after, --log-level info", ROOT, ["--log-level", "info"]),
  await start("after, --log-level warn", ROOT, ["--log-level", "warn"]),
];
const runs = new Map<Server, MeasuredRate[]>(servers.map((s) => [s, []]));
try {
  // Round 0 warms every server up (JIT) and is not counted; each round starts with the next server.
  for (let round = 0; round <= ROUNDS; round++) {
    const line: string[] = [];
    for (let k = 0; k < servers.length; k++) {
      const s = servers[(round + k) % servers.length]!;
      const r = await measureRate(s.pid, { kind: "post", url: `${s.url}/mcp`, concurrency: CONCURRENCY, warmupMs: 500, durationMs: SECONDS * 1000, tokens: s.tokens });
      if (r.errors) throw new Error(`${s.name}: ${r.errors} failed calls, first: ${r.firstError}`);
      if (round > 0) runs.get(s)!.push(r);
      line.push(`${s.name.split(" ")[0]}${s.name.includes("info") ? "/info" : s.name.includes("warn") ? "/warn" : ""} ${Math.round(r.rate)} calls/s ${r.cpuUsPerCall.toFixed(1)} µs`);
    }
    process.stdout.write(`round ${round}/${ROUNDS}${round === 0 ? " (warm-up)" : ""}: ${line.join("  |  ")}\n`);
  }
  process.stdout.write("\nserver                                  calls/s (median)   server CPU per call (median; rounds)\n");
  for (const s of servers) {
    const rs = runs.get(s)!;
    const log = join(s.dir, "stderr.log");
    const bytes = existsSync(log) ? statSync(log).size : 0;
    process.stdout.write(
      `${s.name.padEnd(40)}${Math.round(median(rs.map((r) => r.rate))).toLocaleString("en-US").padStart(8)}           ${median(rs.map((r) => r.cpuUsPerCall)).toFixed(1)} µs; ${rs.map((r) => r.cpuUsPerCall.toFixed(0)).join(" ")}   (stderr ${(bytes / 2 ** 20).toFixed(1)} MiB)\n`,
    );
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}
