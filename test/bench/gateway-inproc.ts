/**
 * The gateway's own code alone, for the gateway bench (gateway.ts): `Gateway.call` in this process
 * against one upstream (stdio: the fixture as its child; http: the fixture at `url`), with no MCP
 * server in front, 1 and `concurrency` callers in a closed loop. Prints one JSON line per caller
 * count: calls/s, p50 and this process's CPU per call (the upstream's is not in it).
 *
 *   bun test/bench/gateway-inproc.ts '{"transport":"stdio"|"http","url"?,"concurrency":16,"warmupMs":500,"durationMs":2000}'
 */
import { Gateway } from "../../src/gateway/index.ts";
import { stdioUpstream, upstreamConfigs, whenGateway } from "../helpers/upstreams.ts";
import { percentile } from "./stats.ts";

const job = JSON.parse(process.argv[2] ?? "{}") as { transport: "stdio" | "http"; url?: string; concurrency: number; warmupMs: number; durationMs: number };
const config = job.transport === "stdio" ? stdioUpstream("up") : { name: "up", url: job.url };
const gateway = new Gateway(upstreamConfigs(config), { env: {}, version: "bench" });
gateway.start();
await whenGateway(gateway, () => gateway.status()[0]!.state === "up", 30_000, "upstream up");
const caller = { subject: "bench", grant: ["up"] };
const args = { text: "hello world" };

const results = [];
for (const callers of [1, job.concurrency]) {
  const start = performance.now();
  const measureFrom = start + job.warmupMs;
  const end = measureFrom + job.durationMs;
  let cpu0: NodeJS.CpuUsage | null = null;
  let counted = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        if (t0 >= measureFrom) cpu0 ??= process.cpuUsage();
        const result = await gateway.call(caller, "up_echo", args);
        if (result.isError) throw new Error(JSON.stringify(result));
        const t1 = performance.now();
        if (t0 >= measureFrom && t1 <= end) {
          counted++;
          latencies.push(t1 - t0);
        }
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0 ?? undefined);
  results.push({ callers, rate: counted / (job.durationMs / 1000), p50ms: percentile(latencies, 50), cpuUsPerCall: (cpu.user + cpu.system) / Math.max(1, counted) });
}
await gateway.stop();
process.stdout.write(`${JSON.stringify(results)}\n`);
process.exit(0);
