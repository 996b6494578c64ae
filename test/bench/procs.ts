/** Process helpers shared by the bench scripts: reference servers, the load generator, /proc readings. */
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;

export interface Listening {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Spawns a bench server script that prints `listening on PORT` once it accepts connections; its stderr is ours unless `stderr: "ignore"`. */
export async function spawnListening(args: string[], stderr: "inherit" | "ignore" = "inherit"): Promise<Listening> {
  const proc = Bun.spawn([BUN, ...args], { cwd: ROOT, stdout: "pipe", stderr, stdin: "ignore" });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${args.join(" ")} exited before listening: ${text}`);
    text += decoder.decode(value, { stream: true });
    const m = /listening on (\d+)/.exec(text);
    if (!m) continue;
    reader.releaseLock();
    return {
      port: Number(m[1]),
      pid: proc.pid,
      async stop() {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 2_000);
        await proc.exited;
        clearTimeout(timer);
      },
    };
  }
}

/** Runs one load generator job in its own process and returns its JSON result. */
export async function loadgen<T = any>(job: Record<string, unknown>): Promise<T> {
  const proc = Bun.spawn([BUN, join(import.meta.dir, "loadgen.ts"), JSON.stringify(job)], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`loadgen ${String(job.kind)} exited ${code}\n${err}\n${out}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as T;
}

/** Resident set size in KiB (VmRSS from /proc/PID/status). */
export function vmRssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

const CLOCK_TICKS_PER_S = 100; // Linux USER_HZ

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

export interface MeasuredRate {
  rate: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  total: number;
  errors: number;
  firstError?: string;
  /** Server CPU time (all threads) per completed call over the whole loadgen run, µs. */
  cpuUsPerCall: number;
}

/** A throughput job with the server's CPU use per call measured alongside. */
export async function measureRate(serverPid: number, job: Record<string, unknown>): Promise<MeasuredRate> {
  const cpu0 = cpuSeconds(serverPid);
  const r = await loadgen<Omit<MeasuredRate, "cpuUsPerCall">>(job);
  const cpu1 = cpuSeconds(serverPid);
  return { ...r, cpuUsPerCall: ((cpu1 - cpu0) / Math.max(1, r.total)) * 1e6 };
}

/** The tree of git revision `rev`, runnable: its files in a temp dir beside this tree's node_modules. */
export async function checkout(rev: string): Promise<{ root: string; [Symbol.dispose](): void }> {
  const root = mkdtempSync(join(tmpdir(), "parley-rev-"));
  const archive = Bun.spawn(["git", "archive", rev], { cwd: ROOT, stdout: "pipe" });
  const untar = Bun.spawn(["tar", "-x", "-C", root], { stdin: archive.stdout });
  if ((await archive.exited) !== 0 || (await untar.exited) !== 0) throw new Error(`git archive ${rev} failed`);
  symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"));
  return { root, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}
