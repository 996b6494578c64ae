/**
 * Profiling aid, not part of `make bench`: `bun test/bench/ladder.ts [rounds] [seconds]`.
 * Climbs from bare Bun.serve to Parley's post_message one layer at a time, every step measured
 * with the same load generator and alternated round by round, and prints calls/s and — more
 * robust on a shared, noisy machine — the server's CPU time per call, so each layer's cost is the
 * difference between two rows.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startServer } from "../helpers/start-server.ts";
import { measureRate, ROOT, spawnListening, type Listening } from "./procs.ts";
import { median } from "./stats.ts";

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 3);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const here = import.meta.dir;

interface Step {
  name: string;
  kind: "hello" | "echo" | "post";
  start(): Promise<Listening & { path: string }>;
}
const script = (file: string, path: string, ...args: string[]): Step["start"] => async () => ({
  ...(await spawnListening([join(here, file), ...args])),
  path,
});
const parley = (command?: string[]): Step["start"] => async () => {
  const s = await startServer(command ? { command } : {});
  return { port: s.port, pid: s.proc.pid, path: "/mcp", stop: async () => await s[Symbol.asyncDispose]() };
};

const steps: Step[] = [
  { name: "Bun.serve hello", kind: "hello", start: script("hello-server.ts", "/") },
  { name: "SDK echo (SSE, no event store)", kind: "echo", start: script("sdk-echo-server.ts", "/mcp") },
  { name: "SDK echo + SessionEventStore", kind: "echo", start: script("sdk-echo-server.ts", "/mcp", "--event-store") },
  { name: "Parley stack, echo tool (src)", kind: "echo", start: script("parley-echo-server.ts", "/mcp") },
  { name: "Parley post_message (src)", kind: "post", start: parley() },
  ...(existsSync(join(ROOT, "dist/parley"))
    ? [{ name: "Parley post_message (dist/parley)", kind: "post" as const, start: parley([join(ROOT, "dist/parley")]) }]
    : []),
];

const servers = [];
for (const step of steps) servers.push(await step.start());
const results = steps.map(() => [] as { rate: number; cpu: number }[]);
try {
  for (let r = 1; r <= rounds; r++) {
    for (const [i, step] of steps.entries()) {
      const s = servers[i]!;
      const m = await measureRate(s.pid, {
        kind: step.kind,
        url: `http://127.0.0.1:${s.port}${s.path}`,
        concurrency,
        warmupMs: 500,
        durationMs: seconds * 1000,
      });
      if (m.errors) throw new Error(`${step.name}: ${m.errors} errors, first ${m.firstError}`);
      results[i]!.push({ rate: m.rate, cpu: m.cpuUsPerCall });
    }
    process.stdout.write(`round ${r}/${rounds} done\n`);
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}
process.stdout.write(`\n| step | calls/s (median) | server CPU µs/call (median) | Δ CPU vs previous |\n|---|---|---|---|\n`);
let prev = NaN;
for (const [i, step] of steps.entries()) {
  const rate = median(results[i]!.map((x) => x.rate));
  const cpu = median(results[i]!.map((x) => x.cpu));
  const delta = Number.isNaN(prev) ? "" : `${cpu - prev >= 0 ? "+" : ""}${(cpu - prev).toFixed(0)}`;
  process.stdout.write(`| ${step.name} | ${Math.round(rate).toLocaleString("en-US")} | ${cpu.toFixed(0)} | ${delta} |\n`);
  prev = cpu;
}
process.exit(0);
