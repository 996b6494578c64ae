/**
 * One program run for a tool (docker, python): a child started from an argv array (no shell, so
 * no argument is ever interpreted), in a process group of its own, with a time limit and a cap on
 * its output. However the run ends (exit, time, output, cancellation), the whole group is killed
 * with SIGKILL before the answer: nothing the program started in its group outlives the call.
 *
 * What the group does not hold: a process that calls setsid() itself leaves it. The python runner
 * bounds what such a process could do (its own rlimits: CPU time, memory, process count), not its
 * lifetime; a pids cgroup would (Bun.spawn takes `cgroup`), where the operator provides one.
 */

export interface ChildSpec {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Run as this user and group (the python runner, when the server runs as root); supplementary groups are dropped. */
  uid?: number;
  gid?: number;
  timeoutMs: number;
  /** stdout and stderr together; one byte more stops the run. */
  maxOutputBytes: number;
  /** The MCP request's signal: a cancelled call stops its run. */
  signal?: AbortSignal;
  /** Called once when a run is stopped early, before its group is killed (docker removes its container). */
  onStop?: (why: StopReason) => void;
}

export type StopReason = "time" | "output" | "cancelled";

export interface ChildOutcome {
  exitCode: number | null;
  /** The signal that ended the program (e.g. SIGXCPU at its CPU rlimit), when one did. */
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Why the run was stopped before its program ended, if it was. */
  stopped: StopReason | null;
  durationMs: number;
}

/**
 * After the program has exited and its group is killed, its pipes end at once, unless a process that
 * left the group holds one: its output is not waited for longer than this.
 */
const DRAIN_MS = 500;

/**
 * Starts the run. Throws (ENOENT, EACCES) when the program cannot be started at all, before
 * anything ran, so a caller can try another executable.
 */
export function startChild(spec: ChildSpec): Promise<ChildOutcome> {
  const started = performance.now();
  const proc = Bun.spawn(spec.argv, {
    env: spec.env,
    cwd: spec.cwd,
    ...(spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid } : {}),
    // setsid(): the child leads a new process group (and session), so one kill reaches all it started.
    detached: true,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let stopped: StopReason | null = null;
  const stop = (why: StopReason) => {
    if (stopped) return;
    stopped = why;
    spec.onStop?.(why);
    killGroup(proc.pid);
  };
  const timer = setTimeout(() => stop("time"), spec.timeoutMs);
  const onAbort = () => stop("cancelled");
  if (spec.signal?.aborted) onAbort();
  else spec.signal?.addEventListener("abort", onAbort, { once: true });

  const budget = { left: spec.maxOutputBytes };
  const out = new Capture(proc.stdout, budget, () => stop("output"));
  const err = new Capture(proc.stderr, budget, () => stop("output"));
  return (async () => {
    try {
      await proc.exited;
    } finally {
      clearTimeout(timer);
      spec.signal?.removeEventListener("abort", onAbort);
      // What is left of the group: grandchildren, still running after the program ended.
      killGroup(proc.pid);
    }
    await Promise.race([Promise.all([out.done, err.done]), Bun.sleep(DRAIN_MS)]);
    out.cancel();
    err.cancel();
    return {
      exitCode: proc.exitCode,
      signal: proc.signalCode === null ? null : String(proc.signalCode),
      stdout: out.text(),
      stderr: err.text(),
      stopped: stopped as StopReason | null,
      durationMs: Math.round(performance.now() - started),
    };
  })();
}

/** SIGKILL to every process of the group (its id is the leader's pid); none left is not an error. */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: the group is empty.
  }
}

/** Reads one pipe into memory up to the shared budget; past it, calls `overflow` and stops reading. */
class Capture {
  private readonly chunks: Uint8Array[] = [];
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>, budget: { left: number }, overflow: () => void) {
    const reader = (this.reader = stream.getReader());
    this.done = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          if (value.byteLength > budget.left) {
            this.chunks.push(value.subarray(0, budget.left));
            budget.left = 0;
            overflow();
            return;
          }
          budget.left -= value.byteLength;
          this.chunks.push(value);
        }
      } catch {
        // The pipe broke (the group was killed): what was read is kept.
      }
    })();
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}
