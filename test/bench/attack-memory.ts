/**
 * Issue 9 item 1, measured: one signed-in caller tries to take the server's memory and stall
 * everyone. Runs the exact attack against a real server process and prints the server's RSS and
 * another caller's latency while it runs.
 *
 *   bun test/bench/attack-memory.ts [--root DIR]... [--messages 1000] [--idle-seconds 10]
 *
 * --root runs `bun DIR/src/main.ts` instead of this tree; given more than once, each tree in turn
 * in one run (e.g. `--root /tmp/parley-main --root .` for before and after).
 *
 * Phases (the attacker is one identity on one MCP session, over raw HTTP):
 *   sync        post 200 messages of 64 KiB of U+0001 (JSON escaping makes each ~6× longer, ~13×
 *               in an MCP answer), then sync_messages {cursor: 0, limit: 200} 25 times
 *   idle        RSS after --idle-seconds with nothing happening, then after DELETE of the session
 *   transcript  post up to 600 such messages, get_transcript; then up to --messages, again
 *               (a server with paged transcripts: every page, followed by cursor), and the whole
 *               transcript downloaded from its download_url when the server offers one
 * A victim process (another identity, its own session) calls get_channel_info back to back the
 * whole time; its p50/p99/max latency per phase is what "stall everyone" means.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startServer } from "../helpers/start-server.ts";
import { signIn } from "../helpers/oauth.ts";
import { RawMcpSession } from "../helpers/raw-mcp.ts";
import { McpSession } from "./http-client.ts";
import { vmRssKiB } from "./procs.ts";
import { percentile } from "./stats.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const roots = args.flatMap((a, i) => (a === "--root" ? [resolve(args[i + 1]!)] : []));

if (args[0] === "--victim") await victim(args[1]!);
else for (const root of roots.length ? roots : [resolve(import.meta.dir, "../..")]) await attack(root);

/** The other caller: get_channel_info back to back until stdin closes; prints latencies (ms) per phase. */
async function victim(mcpUrl: string): Promise<void> {
  const s = await McpSession.open(mcpUrl, "victim");
  const ch = await s.tool("create_channel", { name: "victim", slots: ["invite:v"] });
  const info = s.toolCaller("get_channel_info", { channel_id: ch.channel_id });
  let phase = "start";
  const times = new Map<string, number[]>();
  let stopped = false;
  void (async () => {
    for await (const chunk of Bun.stdin.stream()) {
      const lines = new TextDecoder().decode(chunk).split("\n").filter(Boolean);
      if (lines.length) phase = lines.at(-1)!;
    }
    stopped = true;
  })();
  process.stdout.write("ready\n");
  while (!stopped) {
    const t = performance.now();
    await info();
    const ms = performance.now() - t;
    if (!times.has(phase)) times.set(phase, []);
    times.get(phase)!.push(ms);
    await Bun.sleep(5);
  }
  await s.close();
  process.stdout.write(JSON.stringify(Object.fromEntries(times)) + "\n");
}

async function attack(root: string): Promise<void> {
  const total = Number(flag("messages", "1000"));
  const idleSeconds = Number(flag("idle-seconds", "10"));
  const dataDir = mkdtempSync(join(tmpdir(), "parley-attack-"));
  await using srv = await startServer({ dataDir, command: [process.execPath, join(root, "src/main.ts")] });
  const pid = srv.proc.pid;
  let peak = 0;
  let phasePeak = 0;
  const sampler = setInterval(() => {
    const rss = vmRssKiB(pid);
    peak = Math.max(peak, rss);
    phasePeak = Math.max(phasePeak, rss);
  }, 20);
  const mb = (kib: number) => `${(kib / 1024).toFixed(0)} MB`;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

  const v = Bun.spawn([process.execPath, import.meta.path, "--victim", srv.mcpUrl], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const victimOut = new Response(v.stdout).text();
  const setPhase = (p: string) => {
    v.stdin.write(`${p}\n`);
    v.stdin.flush();
    phasePeak = vmRssKiB(pid);
  };
  await Bun.sleep(1_000); // the victim signs in and starts calling
  const report = (phase: string, what: string) => console.log(`${phase.padEnd(16)} ${what}; server RSS now ${mb(vmRssKiB(pid))}, phase peak ${mb(phasePeak)}`);
  console.log(`\n== ${root}`);
  report("baseline", "idle server");

  const token = (await signIn(srv.url)).access_token;
  const attacker = await RawMcpSession.open(srv.mcpUrl, token);
  const ch = await attacker.tool("create_channel", { name: "big", slots: ["invite:a"] });
  await attacker.tool("join_channel", { invite_code: ch.invites[0] });
  const body = "\u0001".repeat(64 * 1024);
  let posted = 0;
  const postUpTo = async (session: RawMcpSession, n: number) => {
    setPhase(`post-${n}`);
    for (; posted < n; posted++) await session.tool("post_message", { channel_id: ch.channel_id, body });
    report(`post-${n}`, `${n} messages of 64 KiB of U+0001 posted`);
  };

  await postUpTo(attacker, 200);
  setPhase("sync");
  let largest = 0;
  let returned = 0;
  let started = performance.now();
  for (let i = 0; i < 25; i++) {
    const { result, bytes } = await attacker.request("tools/call", { name: "sync_messages", arguments: { channel_id: ch.channel_id, cursor: 0, limit: 200, timeout_ms: 0 } });
    largest = Math.max(largest, bytes);
    returned += result.structuredContent?.messages?.length ?? 0;
  }
  report("sync", `25 × sync_messages {limit: 200}: ${returned} messages in all, largest answer ${(largest / 1e6).toFixed(2)} MB, ${s(performance.now() - started)}`);

  setPhase("idle");
  await Bun.sleep(idleSeconds * 1000);
  report("idle", `${idleSeconds} s idle after the attack`);
  setPhase("deleted");
  await attacker.close();
  await Bun.sleep(5_000);
  report("deleted", "5 s after the attacker's session was DELETEd");

  const again = await RawMcpSession.open(srv.mcpUrl, token);
  for (const n of [600, total]) {
    await postUpTo(again, n);
    setPhase(`transcript-${n}`);
    started = performance.now();
    let cursor: number | undefined;
    let pages = 0;
    let messages = 0;
    largest = 0;
    let download: string | undefined;
    try {
      for (;;) {
        const { result, bytes } = await again.request("tools/call", { name: "get_transcript", arguments: { channel_id: ch.channel_id, ...(cursor ? { cursor } : {}) } });
        pages++;
        largest = Math.max(largest, bytes);
        const t = result.structuredContent ?? JSON.parse(result.content[0].text);
        messages += t.messages?.length ?? 0;
        download ??= t.download_url;
        if (!t.more) break;
        cursor = t.cursor;
      }
      report(`transcript-${n}`, `get_transcript: ${messages} messages in ${pages} answer(s), largest ${(largest / 1e6).toFixed(2)} MB, ${s(performance.now() - started)}`);
    } catch (err) {
      report(`transcript-${n}`, `get_transcript FAILED after ${s(performance.now() - started)}: ${(err as Error).message.slice(0, 120)}`);
    }
    if (download) {
      setPhase(`download-${n}`);
      started = performance.now();
      const res = await fetch(download);
      let bytes = 0;
      for await (const chunk of res.body!) bytes += chunk.length;
      report(`download-${n}`, `HTTP ${res.status}, ${(bytes / 1e6).toFixed(0)} MB streamed in ${s(performance.now() - started)}`);
    }
  }
  await again.close().catch(() => {});
  clearInterval(sampler);
  v.stdin.end();
  const latencies = JSON.parse((await victimOut).trim().split("\n").at(-1)!) as Record<string, number[]>;
  console.log("victim (another identity) get_channel_info latency by phase, ms: p50 / p99 / max (calls)");
  for (const [phase, xs] of Object.entries(latencies)) {
    console.log(`  ${phase.padEnd(16)} ${percentile(xs, 50).toFixed(1)} / ${percentile(xs, 99).toFixed(1)} / ${Math.max(...xs).toFixed(1)}  (${xs.length})`);
  }
  console.log(`server RSS peak over the run: ${mb(peak)}`);
  rmSync(dataDir, { recursive: true, force: true });
}
