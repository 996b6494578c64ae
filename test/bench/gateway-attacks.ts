/**
 * The gateway's memory under two attacks (test/unit/gateway/attacks.test.ts proves the bounds;
 * this measures them): an HTTP upstream answering 64 MiB, and 5,000 calls at once to an upstream
 * that never answers. Prints the RSS and heap growth of this process (the gateway in-process) for
 * each. Run it on two trees to compare (the copy under the other tree imports that tree's src):
 *
 *   bun test/bench/gateway-attacks.ts
 */
import { Gateway } from "../../src/gateway/index.ts";
import { httpFixture, stdioUpstream, upstreamConfigs, whenGateway } from "../helpers/upstreams.ts";

const MIB = 1024 * 1024;
const mib = (bytes: number) => Math.round((bytes / MIB) * 10) / 10;

function memory(): { rss: number; heap: number } {
  Bun.gc(true);
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

async function measure(name: string, attack: () => Promise<unknown>): Promise<void> {
  const before = memory();
  const t0 = performance.now();
  const outcome = await attack().then(
    () => "answered",
    (err: Error) => `${(err as { code?: string }).code ?? err.name}: ${err.message.slice(0, 80)}`,
  );
  const peak = process.memoryUsage();
  const after = memory();
  console.log(JSON.stringify({ attack: name, outcome, ms: Math.round(performance.now() - t0), rssPeakMiB: mib(peak.rss - before.rss), rssAfterGcMiB: mib(after.rss - before.rss), heapAfterGcMiB: mib(after.heap - before.heap) }));
}

await using fx = await httpFixture("fat");
const gateway = new Gateway(upstreamConfigs({ name: "fat", url: fx.url }, stdioUpstream("stuck", "hang")), { env: { PATH: process.env.PATH }, version: "bench" });
gateway.start();
await whenGateway(gateway, () => gateway.status().every((u) => u.state === "up"), 30_000, "upstreams up");
const caller = { subject: "bench", grant: ["fat", "stuck"] };

await measure("HTTP answer of 64 MiB", () => gateway.call(caller, "fat_big", { bytes: 64 * MIB }));

const calls: Promise<unknown>[] = [];
await measure("5,000 calls at once to a hung upstream (held 2 s)", async () => {
  for (let i = 0; i < 5_000; i++) calls.push(gateway.call(caller, "stuck_echo", { text: "x".repeat(1024) }).catch((err) => err));
  await Bun.sleep(2_000);
  const refused = (await Promise.race([Promise.all(calls.map((c) => Promise.race([c, Bun.sleep(0).then(() => null)])))])).filter((r) => r !== null).length;
  console.log(JSON.stringify({ attack: "5,000 calls", refusedAtOnce: refused, pending: calls.length - refused }));
});
await gateway.stop();
await Promise.all(calls);
