/**
 * `make bench`, the gateway: a proxied `tools/call` (client → Parley /mcp → upstream) against the
 * same client calling the same upstream directly over the upstream's own transport, in one run.
 *
 *   (g) stdio upstream: direct = the client spawns it and speaks JSON-RPC on its stdio;
 *       proxied = the client's MCP session over HTTP to Parley, which holds one stdio connection
 *   (h) HTTP upstream: direct = the client's MCP session to it; proxied = the same to Parley,
 *       which holds one Streamable HTTP session to it
 *   with 1 client (latency p50) and 16 (calls/s), rounds alternating direct → proxied so that
 *   machine noise hits both alike; medians over rounds, added latency and throughput ratio taken
 *   per round (paired). The upstream is test/fixtures/upstream-server.ts (the SDK's McpServer),
 *   tool `echo` {text}.
 *   (i) RSS of the Parley process per idle upstream connection: started with 0, 1 and N upstreams
 *       (HTTP: N sessions to one server; stdio: N child processes), read once all are up.
 *
 * Every server is its own process and so is the load generator (gateway-load.ts; Parley is
 * started by gateway-server.ts); Parley's and the upstream's CPU per call are read from /proc
 * beside each figure. (r) Parley's stack answering echo itself and (q) Gateway.call alone in
 * process (gateway-inproc.ts) split the proxied call's cost into its parts.
 *
 * Env: BENCH_ROUNDS (5), BENCH_SECONDS (3), BENCH_CONCURRENCY (16), BENCH_IDLE_UPSTREAMS (20),
 *      BENCH_SERVER=src to run `bun src/main.ts` instead of dist/parley.
 */
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { signIn } from "../helpers/oauth.ts";
import type { LoadResult } from "./gateway-load.ts";
import { FIXTURE, rssPerUpstream, startGateway, stdioCommand } from "./gateway-server.ts";
import { BUN, cpuSeconds, ROOT, spawnListening } from "./procs.ts";
import { median, printTable } from "./stats.ts";

const BIN = join(ROOT, "dist/parley");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const IDLE = Number(process.env.BENCH_IDLE_UPSTREAMS ?? 20);
const WARMUP_MS = 500;
const RSS_ROUNDS = 3;

const useSource = process.env.BENCH_SERVER === "src" || !existsSync(BIN);
const parleyCommand = useSource ? [BUN, join(ROOT, "src/main.ts")] : [BIN];

const log = (s: string) => process.stdout.write(`${s}\n`);
const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => n.toFixed(3);
const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
const mb = (kib: number) => (kib * 1024) / 1e6;


async function loadgen(job: Record<string, unknown>): Promise<LoadResult> {
  const proc = Bun.spawn([BUN, join(import.meta.dir, "gateway-load.ts"), JSON.stringify(job)], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`gateway-load ${String(job.kind)} exited ${code}\n${err}\n${out}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as LoadResult;
}

interface Measured extends LoadResult {
  /** Parley's CPU per call, µs (0 for a direct call). */
  gatewayUs: number;
  /** The upstream's CPU per call, µs. */
  upstreamUs: number;
}

/** One load run with the CPU per call of the gateway (if any) and of the upstream (its pid, or the stdio child the load generator starts). */
async function measure(job: Record<string, unknown>, gatewayPid: number | null, upstreamPid: number | null): Promise<Measured> {
  const g0 = gatewayPid === null ? 0 : cpuSeconds(gatewayPid);
  const u0 = upstreamPid === null ? 0 : cpuSeconds(upstreamPid);
  const r = await loadgen({ warmupMs: WARMUP_MS, durationMs: SECONDS * 1000, ...job });
  if (r.errors || r.firstError) throw new Error(`${JSON.stringify(job).slice(0, 200)}: ${r.errors} failed calls, first: ${r.firstError}`);
  const calls = Math.max(1, r.total);
  const gatewayUs = gatewayPid === null ? 0 : ((cpuSeconds(gatewayPid) - g0) / calls) * 1e6;
  const upstreamS = upstreamPid === null ? (r.childCpuS ?? NaN) : cpuSeconds(upstreamPid) - u0;
  return { ...r, gatewayUs, upstreamUs: (upstreamS / calls) * 1e6 };
}

// ---------------------------------------------------------------------------------------------
// (g)(h) latency and throughput

type Transport = "stdio" | "http";
type Path = "direct" | "proxied";
type Key = `${Transport}-${Path}-${1 | 16}` | `local-${1 | 16}`;

interface InProc {
  callers: number;
  rate: number;
  p50ms: number;
  cpuUsPerCall: number;
}

/** (q) Gateway.call alone in its own process (gateway-inproc.ts), for 1 and CONCURRENCY callers. */
async function inProcess(transport: Transport, url: string): Promise<InProc[]> {
  const job = { transport, url, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: Math.min(2, SECONDS) * 1000 };
  const proc = Bun.spawn([BUN, join(import.meta.dir, "gateway-inproc.ts"), JSON.stringify(job)], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`gateway-inproc ${transport} exited ${code}\n${err}\n${out}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as InProc[];
}

async function latencyAndThroughput() {
  const httpUpstream = await spawnListening([FIXTURE, "--name", "http", "--port", "0"]);
  // (r): Parley's own stack (from source) answering an echo tool itself, no upstream: what the proxied call costs beyond it is the forwarding.
  const local = await spawnListening([join(import.meta.dir, "parley-echo-server.ts")], "ignore");
  const localUrl = `http://127.0.0.1:${local.port}/mcp`;
  const upstreamUrl = `http://127.0.0.1:${httpUpstream.port}/mcp`;
  await using gw = await startGateway(
    parleyCommand,
    [
      { name: "stdio", command: stdioCommand("stdio") },
      { name: "http", url: upstreamUrl },
    ],
    ["stdio", "http"],
  );
  const runs = new Map<Key, Measured[]>();
  const inproc: Record<Transport, InProc[][]> = { stdio: [], http: [] };
  try {
    const parleyPid = gw.server.proc.pid;
    const stdioPid = gw.pids.get("stdio")!;
    // Signed in once for every round (sign-ins are rate-limited per address); each session its own identity.
    const tokens = await Promise.all(Array.from({ length: CONCURRENCY }, async () => (await signIn(gw.server.url)).access_token));
    const localTokens = await Promise.all(Array.from({ length: CONCURRENCY }, async () => (await signIn(new URL(localUrl).origin)).access_token));
    const jobs: Record<Transport, Record<Path, (c: number) => Promise<Measured>>> = {
      stdio: {
        direct: (c) => measure({ kind: "stdio", argv: stdioCommand("stdio"), tool: "echo", concurrency: c }, null, null),
        proxied: (c) => measure({ kind: "http", url: gw.server.mcpUrl, tokens, tool: "stdio_echo", concurrency: c }, parleyPid, stdioPid),
      },
      http: {
        direct: (c) => measure({ kind: "http", url: upstreamUrl, tool: "echo", concurrency: c }, null, httpUpstream.pid),
        proxied: (c) => measure({ kind: "http", url: gw.server.mcpUrl, tokens, tool: "http_echo", concurrency: c }, parleyPid, httpUpstream.pid),
      },
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const parts: string[] = [];
      for (const clients of [1, CONCURRENCY] as const) {
        for (const transport of ["stdio", "http"] as const) {
          const d = await jobs[transport].direct(clients);
          const p = await jobs[transport].proxied(clients);
          const k = (path: Path) => `${transport}-${path}-${clients === 1 ? 1 : 16}` as Key;
          for (const [key, r] of [[k("direct"), d], [k("proxied"), p]] as const) runs.set(key, [...(runs.get(key) ?? []), r]);
          parts.push(
            clients === 1
              ? `${transport} c1 p50 ${fmtMs(d.p50ms)} → ${fmtMs(p.p50ms)} ms`
              : `${transport} c${clients} ${fmtInt(d.rate)} → ${fmtInt(p.rate)}/s [gw ${p.gatewayUs.toFixed(0)} µs/call]`,
          );
        }
        const r = await measure({ kind: "http", url: localUrl, tokens: localTokens, tool: "echo", concurrency: clients }, local.pid, null);
        const key = `local-${clients === 1 ? 1 : 16}` as Key;
        runs.set(key, [...(runs.get(key) ?? []), r]);
        parts.push(clients === 1 ? `(r) c1 p50 ${fmtMs(r.p50ms)} ms` : `(r) c${clients} ${fmtInt(r.rate)}/s [${r.gatewayUs.toFixed(0)} µs/call]`);
      }
      for (const t of ["stdio", "http"] as const) {
        const q = await inProcess(t, upstreamUrl);
        inproc[t].push(q);
        parts.push(`(q) ${t} ${q.map((x) => `c${x.callers} ${x.cpuUsPerCall.toFixed(0)}`).join(", ")} µs/call`);
      }
      log(`  round ${round}/${ROUNDS}: ${parts.join("; ")}`);
    }
  } finally {
    await Promise.all([httpUpstream.stop(), local.stop()]);
  }
  return { runs, inproc };
}


// ---------------------------------------------------------------------------------------------

const started = performance.now();
log(
  `Parley gateway bench — ${cpus().length} CPUs, Bun ${Bun.version}, server: ${useSource ? "bun src/main.ts" : "dist/parley"}, ` +
    `${ROUNDS} rounds × ${SECONDS} s (+${WARMUP_MS} ms warm-up), 1 and ${CONCURRENCY} clients, upstream: test/fixtures/upstream-server.ts echo`,
);
log("(g)(h) direct → proxied, alternating each round");
const { runs, inproc } = await latencyAndThroughput();
log(`(i) RSS with 0, 1 and ${IDLE} idle upstreams`);
const rss = await rssPerUpstream(parleyCommand, IDLE, RSS_ROUNDS, log);

type Row = [string, string, string, string, string];
const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
const get = (t: Transport, p: Path, c: 1 | 16) => runs.get(`${t}-${p}-${c}`)!;
const med = (xs: Measured[], f: (r: Measured) => number) => median(xs.map(f));
const paired = (t: Transport, c: 1 | 16, f: (d: Measured, p: Measured) => number) => get(t, "direct", c).map((d, i) => f(d, get(t, "proxied", c)[i]!));
const rows: Row[] = [];
const label: Record<Transport, string> = { stdio: "(g) stdio upstream", http: "(h) HTTP upstream" };
const inq = (t: Transport, i: number, f: (x: InProc) => number) => median(inproc[t].map((q) => f(q[i]!)));
const l1 = runs.get("local-1")!;
const l16 = runs.get("local-16")!;
// CPU per call under load (16 clients): with one client an idle event loop's own wake-ups weigh on every call.
const localUs = med(l16, (r) => r.gatewayUs);
for (const t of ["stdio", "http"] as const) {
  const added = paired(t, 1, (d, p) => p.p50ms - d.p50ms);
  const ratio = paired(t, 16, (d, p) => p.rate / d.rate);
  const d1 = get(t, "direct", 1);
  const p1 = get(t, "proxied", 1);
  const d16 = get(t, "direct", 16);
  const p16 = get(t, "proxied", 16);
  const gwUs = med(p16, (r) => r.gatewayUs);
  const upDirect = med(d16, (r) => r.upstreamUs);
  const upProxied = med(p16, (r) => r.upstreamUs);
  const beyond = p1.map((p, i) => p.p50ms - l1[i]!.p50ms);
  rows.push(
    [`${label[t]}, 1 client: p50 direct / proxied`, `${fmtMs(med(d1, (r) => r.p50ms))} / ${fmtMs(med(p1, (r) => r.p50ms))} ms`, `p99 ${fmtMs(med(d1, (r) => r.p99ms))} / ${fmtMs(med(p1, (r) => r.p99ms))} ms`, "", ""],
    ["    added latency p50 (proxied − direct)", `${fmtMs(median(added))} ms`, added.map(fmtMs).join(", "), "≤ 0.3 ms", verdict(median(added) <= 0.3)],
    ...(t === "stdio" ? [stdioOverHttp()[0]!] : []),
    ["    proxied − (r) p50: the forwarding alone", `${fmtMs(median(beyond))} ms`, beyond.map(fmtMs).join(", "), "", ""],
    [`    ${CONCURRENCY} clients: direct / proxied`, `${fmtInt(med(d16, (r) => r.rate))} / ${fmtInt(med(p16, (r) => r.rate))} calls/s`, `p50 ${fmtMs(med(d16, (r) => r.p50ms))} / ${fmtMs(med(p16, (r) => r.p50ms))} ms`, "", ""],
    ["    throughput proxied / direct", pct(median(ratio)), ratio.map(pct).join(", "), "≥ 80%", verdict(median(ratio) >= 0.8)],
    ...(t === "stdio" ? [stdioOverHttp()[1]!] : []),
    [`    CPU per call at ${CONCURRENCY}: Parley; upstream direct / proxied`, `${gwUs.toFixed(0)}; ${upDirect.toFixed(0)} / ${upProxied.toFixed(0)} µs`, `Parley beyond (r): ${(gwUs - localUs).toFixed(0)} µs`, "", ""],
    [
      "    (q) Gateway.call alone, in process: CPU per call",
      `${inq(t, 0, (x) => x.cpuUsPerCall).toFixed(0)} / ${inq(t, 1, (x) => x.cpuUsPerCall).toFixed(0)} µs`,
      `1 / ${CONCURRENCY} callers; p50 ${fmtMs(inq(t, 0, (x) => x.p50ms))} ms at 1, ${fmtInt(inq(t, 1, (x) => x.rate))} calls/s at ${CONCURRENCY}`,
      "",
      "",
    ],
    ["    throughput ratio if each process had a core", pct(upProxied / Math.max(gwUs, upProxied)), "upstream µs ÷ max(Parley µs, upstream µs)", "", ""],
  );
}
rows.push([
  "(r) Parley's stack answering echo itself",
  `${fmtMs(med(l1, (r) => r.p50ms))} ms; ${fmtInt(med(l16, (r) => r.rate))} calls/s`,
  `1-client p50; ${CONCURRENCY} clients, ${localUs.toFixed(0)} µs CPU/call (parley-echo-server.ts)`,
  "reference",
  "",
]);

/** The stdio path has an HTTP hop (client → Parley) the direct stdio call has not: against the same server over HTTP, directly. */
function stdioOverHttp(): Row[] {
  const d = get("stdio", "proxied", 1).map((p, i) => p.p50ms - get("http", "direct", 1)[i]!.p50ms);
  const r = get("stdio", "proxied", 16).map((p, i) => p.rate / get("http", "direct", 16)[i]!.rate);
  return [
    ["    p50 proxied stdio − direct HTTP (same server)", `${fmtMs(median(d))} ms`, d.map(fmtMs).join(", "), "", ""],
    ["    throughput proxied stdio / direct HTTP", pct(median(r)), r.map(pct).join(", "), "", ""],
  ];
}
for (const t of ["http", "stdio"] as const) {
  const r = rss[t];
  rows.push(
    [`(i) RSS per idle ${t} upstream, (RSS_${IDLE} − RSS_0)/${IDLE}`, `${mb(r.perConnKiB).toFixed(2)} MB`, `RSS 0 / 1 / ${IDLE}: ${mb(r.zero).toFixed(1)} / ${mb(r.one).toFixed(1)} / ${mb(r.n).toFixed(1)} MB`, "≤ 2 MB", verdict(mb(r.perConnKiB) <= 2)],
    [`    (RSS_${IDLE} − RSS_1)/${IDLE - 1}`, `${mb(r.slopeKiB).toFixed(2)} MB`, "without the first upstream's one-time cost", "", ""],
  );
}
printTable(rows, log);
log(`gateway bench finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(0);
