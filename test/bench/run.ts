/**
 * `make bench`: Parley's performance figures next to their references, in one run.
 *
 *   (a) bare Bun.serve hello world                      req/s     (hello-server.ts)
 *   (b) the SDK's minimal stateful SSE tools/call echo  calls/s   (sdk-echo-server.ts)
 *   (b') the same with Parley's event store             calls/s   (sdk-echo-server.ts --event-store)
 *   (c) Parley post_message through the whole stack     calls/s   (dist/parley, 16 seated sessions)
 *   (d) post → delivery latency to a waiting sync_messages
 *   (e) dist/parley start-up to first HTTP 200, idle RSS
 *   (f) sync_messages of the last page of a 1,000,000-message channel (in-process and over MCP)
 *
 * Every server is its own process and so is the load generator (loadgen.ts, raw-socket HTTP/1.1
 * + lean MCP client, the same for (a)–(c)). Throughput runs ROUNDS rounds of a → b → c so that
 * machine noise hits all three alike; medians are reported.
 *
 * Env: BENCH_ROUNDS (5), BENCH_SECONDS (3), BENCH_CONCURRENCY (16), BENCH_MESSAGES (1000000),
 *      BENCH_SERVER=src to run `bun src/main.ts` instead of dist/parley, BENCH_CHANNELS (1) channels for (c).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { signIn } from "../helpers/oauth.ts";
import { startServer } from "../helpers/start-server.ts";
import { measureDomainSync, seedBigChannel } from "./big-channel.ts";
import { BUN, loadgen, measureRate, ROOT, spawnListening, vmRssKiB, type MeasuredRate } from "./procs.ts";
import { median, printTable } from "./stats.ts";

const BIN = join(ROOT, "dist/parley");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 1);
const WARMUP_MS = 500;
const STARTUP_SPAWNS = 10;
const PAGE = 100; // sync_messages' default limit: one full page
const BIG_PAGE = 500;

const useSource = process.env.BENCH_SERVER === "src" || !existsSync(BIN);
const parleyCommand = useSource ? [BUN, join(ROOT, "src/main.ts")] : [BIN];

const log = (s: string) => process.stdout.write(`${s}\n`);
const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => (n < 1 ? n.toFixed(3) : n.toFixed(2));
const pct = (n: number) => `${(n * 100).toFixed(1)}%`;

// ---------------------------------------------------------------------------------------------
// helpers

async function freePort(): Promise<number> {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = s.port!;
  await s.stop(true);
  return port;
}

// ---------------------------------------------------------------------------------------------
// (a)(b)(c)(d)

type Series = "a" | "b" | "bs" | "c";

async function throughputAndLatency() {
  const hello = await spawnListening([join(import.meta.dir, "hello-server.ts")]);
  const echo = await spawnListening([join(import.meta.dir, "sdk-echo-server.ts")]);
  // (b'): the same SDK server with the event store Parley's transport has (resumable SSE, Last-Event-ID).
  const echoStore = await spawnListening([join(import.meta.dir, "sdk-echo-server.ts"), "--event-store"]);
  const parley = await startServer({ command: parleyCommand });
  const runs: Record<Series, MeasuredRate[]> = { a: [], b: [], bs: [], c: [] };
  try {
    const common = { concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: SECONDS * 1000 };
    // (c)'s identities sign in once, for every round (sign-ins are rate-limited per address).
    const tokens = await Promise.all(Array.from({ length: CONCURRENCY + 1 }, async () => (await signIn(parley.url)).access_token));
    for (let round = 1; round <= ROUNDS; round++) {
      const a = await measureRate(hello.pid, { kind: "hello", url: `http://127.0.0.1:${hello.port}/`, ...common });
      const b = await measureRate(echo.pid, { kind: "echo", url: `http://127.0.0.1:${echo.port}/mcp`, ...common });
      const bs = await measureRate(echoStore.pid, { kind: "echo", url: `http://127.0.0.1:${echoStore.port}/mcp`, ...common });
      const c = await measureRate(parley.proc.pid, { kind: "post", url: `http://127.0.0.1:${parley.port}/mcp`, channels: CHANNELS, tokens, ...common });
      for (const [k, r] of [["a", a], ["b", b], ["bs", bs], ["c", c]] as const) {
        if (r.errors) throw new Error(`(${k}) round ${round}: ${r.errors} failed requests, first: ${r.firstError}`);
        runs[k].push(r);
      }
      log(
        `  round ${round}/${ROUNDS}: (a) ${fmtInt(a.rate)} req/s   (b) ${fmtInt(b.rate)}   (b') ${fmtInt(bs.rate)}   (c) ${fmtInt(c.rate)} calls/s` +
          `   [server CPU/call ${[a, b, bs, c].map((r) => r.cpuUsPerCall.toFixed(0)).join(" / ")} µs]`,
      );
    }
    await Promise.all([hello.stop(), echo.stop(), echoStore.stop()]);
    const rssAfterLoad = vmRssKiB(parley.proc.pid);
    log("  (d) post → delivery latency …");
    const lat = await loadgen<{ p50ms: number; p99ms: number; maxms: number; samples: number; postP50ms: number }>({
      kind: "latency",
      url: parley.mcpUrl,
      iterations: 500,
      warmup: 50,
    });
    return { runs, lat, rssAfterLoad };
  } finally {
    await Promise.all([hello.stop(), echo.stop(), echoStore.stop()]).catch(() => {});
    await parley[Symbol.asyncDispose]();
  }
}

// ---------------------------------------------------------------------------------------------
// (e)

async function startup() {
  const times: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < STARTUP_SPAWNS; i++) {
    const dir = mkdtempSync(join(tmpdir(), "parley-bench-start-"));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const t0 = performance.now();
    const proc = Bun.spawn([...parleyCommand, "serve", "--port", String(port), "--data", dir], { cwd: dir, stdout: "ignore", stderr: "ignore", stdin: "ignore" });
    try {
      for (;;) {
        try {
          const res = await fetch(url);
          if (res.status === 200) {
            await res.arrayBuffer();
            break;
          }
        } catch {
          // not listening yet
        }
        if (proc.exitCode !== null) throw new Error(`parley exited ${proc.exitCode} during start-up`);
        if (performance.now() - t0 > 20_000) throw new Error("parley did not answer GET / in 20 s");
        await Bun.sleep(1);
      }
      times.push(performance.now() - t0);
      // Idle: give it a moment after start-up, with no requests, then read the resident set.
      await Bun.sleep(300);
      rss.push(vmRssKiB(proc.pid));
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { times, rss };
}

// ---------------------------------------------------------------------------------------------
// (f)

async function bigChannel() {
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-big-"));
  try {
    const big = await seedBigChannel(dir, MESSAGES);
    log(`  seeded ${fmtInt(big.count)} messages in ${big.seedSeconds.toFixed(1)} s`);
    const domain = await measureDomainSync(big, PAGE);
    const domainSmall = await measureDomainSync(big, BIG_PAGE);
    // Over MCP: a session takes slot s0 with the rejoin token (that appends one system message).
    await using server = await startServer({ command: parleyCommand, dataDir: dir, keepData: true });
    const tip = big.lastId + 1;
    type Page = { p50ms: number; p99ms: number; messages: number; lastId: number; responseBytes: number };
    const { pages } = await loadgen<{ pages: Page[] }>({
      kind: "sync-page",
      url: server.mcpUrl,
      channelId: big.channelId,
      rejoinToken: big.rejoinToken,
      pages: [
        { cursor: tip - PAGE, limit: PAGE },
        { cursor: tip - BIG_PAGE, limit: BIG_PAGE },
      ],
      iterations: 200,
    });
    const [mcp, mcpSmall] = pages as [Page, Page];
    for (const [p, n] of [[mcp, PAGE], [mcpSmall, BIG_PAGE]] as const) {
      if (p.messages !== n || p.lastId !== tip) throw new Error(`MCP page had ${p.messages} messages ending at ${p.lastId}, expected ${n} ending at ${tip}`);
    }
    return { big, domain, domainSmall, mcp, mcpSmall };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const started = performance.now();
log(
  `Parley bench — ${cpus().length} CPUs, Bun ${Bun.version}, server: ${useSource ? "bun src/main.ts" : "dist/parley"}, ` +
    `${ROUNDS} rounds × ${SECONDS} s (+${WARMUP_MS} ms warm-up), ${CONCURRENCY} connections, load generator: test/bench/loadgen.ts`,
);
log("(a)(b)(b')(c) throughput, alternating a → b → b' → c each round");
const tl = await throughputAndLatency();
log("(e) start-up");
const st = await startup();
log(`(f) ${fmtInt(MESSAGES)}-message channel`);
const bc = await bigChannel();

const rate = (k: Series) => median(tl.runs[k].map((r) => r.rate));
const a = rate("a");
const b = rate("b");
const c = rate("c");
const cOverA = c / a;
const cOverB = c / b;
const cpu = (k: Series) => median(tl.runs[k].map((r) => r.cpuUsPerCall));
const perRound = (x: Series) => tl.runs.c.map((r, i) => pct(r.rate / tl.runs[x][i]!.rate)).join(", ");
const startupMs = median(st.times);
const idleRssMB = (median(st.rss) * 1024) / 1e6;

type Row = [string, string, string, string, string];
const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
const rows: Row[] = [
  ["(a) Bun.serve hello", `${fmtInt(a)} req/s`, tl.runs.a.map((r) => fmtInt(r.rate)).join(", "), "reference", ""],
  ["(b) SDK echo tools/call (SSE, stateful)", `${fmtInt(b)} calls/s`, tl.runs.b.map((r) => fmtInt(r.rate)).join(", "), "reference", ""],
  ["(b') the same with an event store, as Parley's", `${fmtInt(rate("bs"))} calls/s`, tl.runs.bs.map((r) => fmtInt(r.rate)).join(", "), "reference", ""],
  [`(c) Parley post_message, ${CONCURRENCY} sessions in ${CHANNELS} ch.`, `${fmtInt(c)} calls/s`, tl.runs.c.map((r) => fmtInt(r.rate)).join(", "), "≥ 5,000 calls/s", verdict(c >= 5000)],
  [
    "    server CPU per call (a) / (b) / (b') / (c)",
    `${(["a", "b", "bs", "c"] as const).map((k) => cpu(k).toFixed(0)).join(" / ")} µs`,
    "all server threads, /proc/PID/stat",
    "",
    "",
  ],
  ["    (c) latency p50 / p99", `${fmtMs(median(tl.runs.c.map((r) => r.p50ms)))} / ${fmtMs(median(tl.runs.c.map((r) => r.p99ms)))} ms`, "", "", ""],
  ["    (c)/(a)", pct(cOverA), perRound("a"), "", ""],
  ["    (c)/(b)", pct(cOverB), perRound("b"), "≥ 60%", verdict(cOverB >= 0.6)],
  ["    (c)/(b) by server CPU per call", pct(cpu("b") / cpu("c")), "(b) µs/call ÷ (c) µs/call; less noise-prone", "", ""],
  ["    (c)/(b'), and by server CPU", `${pct(c / rate("bs"))} / ${pct(cpu("bs") / cpu("c"))}`, perRound("bs"), "", ""],
  ["(d) post → delivery p50", `${fmtMs(tl.lat.p50ms)} ms`, `${tl.lat.samples} samples`, "≤ 2 ms", verdict(tl.lat.p50ms <= 2)],
  ["    post → delivery p99 / max", `${fmtMs(tl.lat.p99ms)} / ${fmtMs(tl.lat.maxms)} ms`, `post RTT p50 ${fmtMs(tl.lat.postP50ms)} ms`, "", ""],
  ["(e) start-up to first HTTP 200", `${startupMs.toFixed(1)} ms`, `min ${Math.min(...st.times).toFixed(1)}, max ${Math.max(...st.times).toFixed(1)} (${st.times.length} spawns)`, "≤ 150 ms", verdict(startupMs <= 150)],
  ["    idle RSS (VmRSS, 300 ms after 200)", `${idleRssMB.toFixed(1)} MB`, `${(median(st.rss) / 1024).toFixed(1)} MiB; after (c)+(d) load ${((tl.rssAfterLoad * 1024) / 1e6).toFixed(1)} MB`, "≤ 80 MB", verdict(idleRssMB <= 80)],
  [`(f) syncMessages, last ${PAGE} of ${fmtInt(bc.big.count)}, in-process`, `${fmtMs(bc.domain.p50ms)} ms`, `p99 ${fmtMs(bc.domain.p99ms)}; store query ${fmtMs(bc.domain.storeP50ms)}`, "≤ 1 ms", verdict(bc.domain.p50ms <= 1)],
  [`    same page via MCP over HTTP`, `${fmtMs(bc.mcp.p50ms)} ms`, `p99 ${fmtMs(bc.mcp.p99ms)}; ${fmtInt(bc.mcp.responseBytes)} B response`, "≤ 1 ms", verdict(bc.mcp.p50ms <= 1)],
  [`    last ${BIG_PAGE}, in-process / via MCP`, `${fmtMs(bc.domainSmall.p50ms)} / ${fmtMs(bc.mcpSmall.p50ms)} ms`, `${fmtInt(bc.mcpSmall.responseBytes)} B response`, "", ""],
];
printTable(rows, log);
log(`bench finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(0);
