/**
 * Parley with upstreams from a config file, for the gateway bench (gateway.ts): started, waited
 * for until every upstream is up, and its idle memory per upstream (row (i)).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";
import { BUN, ROOT, spawnListening, vmRssKiB, type Listening } from "./procs.ts";
import { median } from "./stats.ts";

export const FIXTURE = join(ROOT, "test/fixtures/upstream-server.ts");
/** After the last upstream is up: time for start-up garbage to be collected before RSS is read. */
const SETTLE_MS = 2_000;

export const stdioCommand = (name: string) => [BUN, FIXTURE, "--name", name];

export type UpstreamSpec = { name: string; command: string[] } | { name: string; url: string };

function toml(upstreams: UpstreamSpec[], grant: string[]): string {
  const lines = ["[auth]", `default_servers = ${JSON.stringify(["channels", ...grant])}`, ""];
  for (const u of upstreams) {
    lines.push("[[upstream]]", `name = ${JSON.stringify(u.name)}`);
    lines.push("command" in u ? `command = ${JSON.stringify(u.command)}` : `url = ${JSON.stringify(u.url)}`, "");
  }
  return lines.join("\n");
}

export interface Gateway {
  server: ServerProcess;
  /** Each stdio upstream's pid, by name. */
  pids: Map<string, number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts Parley with these upstreams and waits until every one of them is up (its "upstream up" log line). */
export async function startGateway(command: string[], upstreams: UpstreamSpec[], grant: string[] = []): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-gw-"));
  const config = join(dir, "parley.toml");
  writeFileSync(config, toml(upstreams, grant));
  const server = await startServer({ command, args: ["--config", config] });
  const dispose = async () => {
    await server[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  };
  const pids = new Map<string, number>();
  const deadline = performance.now() + 60_000;
  for (;;) {
    pids.clear();
    let up = 0;
    for (const m of server.stderr().matchAll(/upstream up server=(\S+) tools=\d+(?: pid=(\d+))?/g)) {
      up++;
      if (m[2]) pids.set(m[1]!, Number(m[2]));
    }
    if (up >= upstreams.length) break;
    if (/upstream down/.test(server.stderr()) || performance.now() > deadline) {
      await dispose();
      throw new Error(`upstreams did not come up (${up}/${upstreams.length}):\n${server.stderr()}`);
    }
    await Bun.sleep(20);
  }
  return { server, pids, [Symbol.asyncDispose]: dispose };
}

/** Parley's VmRSS with `n` idle upstreams of a kind, all up and settled: the median of a few readings. */
async function idleRss(command: string[], n: number, transport: "stdio" | "http", http: Listening): Promise<number> {
  const specs: UpstreamSpec[] = Array.from({ length: n }, (_, i) =>
    transport === "http" ? { name: `u${i}`, url: `http://127.0.0.1:${http.port}/mcp` } : { name: `u${i}`, command: stdioCommand(`u${i}`) },
  );
  await using gw = await startGateway(command, specs);
  await Bun.sleep(SETTLE_MS);
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(vmRssKiB(gw.server.proc.pid));
    await Bun.sleep(200);
  }
  return median(readings);
}

/**
 * (i) Parley's VmRSS with 0, 1 and `idle` upstreams of each transport, `rounds` times alternating;
 * per kind the medians, (RSS_N − RSS_0)/N and (RSS_N − RSS_1)/(N − 1), in KiB.
 */
export async function rssPerUpstream(command: string[], idle: number, rounds: number, log: (line: string) => void) {
  const http = await spawnListening([FIXTURE, "--name", "idle", "--port", "0"]);
  const rss: Record<string, number[]> = { none: [], "http-1": [], "http-n": [], "stdio-1": [], "stdio-n": [] };
  try {
    for (let round = 1; round <= rounds; round++) {
      rss.none!.push(await idleRss(command, 0, "http", http));
      for (const t of ["http", "stdio"] as const) {
        rss[`${t}-1`]!.push(await idleRss(command, 1, t, http));
        rss[`${t}-n`]!.push(await idleRss(command, idle, t, http));
      }
      log(`  round ${round}/${rounds}: ${Object.entries(rss).map(([k, v]) => `${k} ${((v.at(-1)! * 1024) / 1e6).toFixed(1)} MB`).join(", ")}`);
    }
  } finally {
    await http.stop();
  }
  const m = (k: string) => median(rss[k]!);
  const per = (t: "stdio" | "http") => ({
    zero: m("none"),
    one: m(`${t}-1`),
    n: m(`${t}-n`),
    perConnKiB: (m(`${t}-n`) - m("none")) / idle,
    slopeKiB: (m(`${t}-n`) - m(`${t}-1`)) / (idle - 1),
  });
  return { http: per("http"), stdio: per("stdio") };
}
