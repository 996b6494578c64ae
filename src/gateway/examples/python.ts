import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../errors.ts";
import { log } from "../../lib/log.ts";
import { startChild, type ChildOutcome } from "./child-process.ts";
import { PYTHON_BOOTSTRAP } from "./python-bootstrap.ts";
import { executablesOnPath, limitExceeded, RunGate, type LimitName } from "./runs.ts";

/** The limits of one run_python_code call (README: Example upstreams). */
export const PYTHON_LIMITS = {
  defaultTimeoutSeconds: 10,
  maxTimeoutSeconds: 60,
  /** RLIMIT_AS: the address space of each process (an allocation beyond is a MemoryError). */
  memoryBytes: 512 * 1024 * 1024,
  /** stdout and stderr together; one byte more kills the run. */
  outputBytes: 1024 * 1024,
  /** RLIMIT_FSIZE: the largest file the code may write. */
  fileBytes: 16 * 1024 * 1024,
  /** RLIMIT_NPROC: processes and threads beyond what the user running the code already has. */
  processes: 32,
  codeBytes: 256 * 1024,
  /** Runs at once in one example process; one more is RATE_LIMITED. */
  concurrent: 4,
} as const;

/** The user the code runs as when the server runs as root: RLIMIT_NPROC never applies to root, and root could read everything. */
const NOBODY = 65534;


export interface PythonResult {
  exit_code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  duration_ms: number;
}

export class PythonRunner {
  private readonly gate = new RunGate("run_python_code", PYTHON_LIMITS.concurrent);
  /** The interpreter that started last time (the first on PATH that the code's user may run). */
  private interpreter: string | undefined;
  private readonly user: { uid: number; gid: number } | undefined;

  /** `path`: the example process's PATH, where python3 is looked for. */
  constructor(private readonly path: string | undefined) {
    this.user = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : undefined;
  }

  run(code: string, timeoutSeconds: number, signal?: AbortSignal): Promise<PythonResult> {
    return this.gate.run(() => this.runNow(code, timeoutSeconds, signal));
  }

  private async runNow(code: string, timeoutSeconds: number, signal?: AbortSignal): Promise<PythonResult> {
    const dir = mkdtempSync(join(tmpdir(), "parley-python-"));
    try {
      writeFileSync(join(dir, "main.py"), code, { mode: 0o600 });
      if (this.user) {
        chownSync(dir, this.user.uid, this.user.gid);
        chownSync(join(dir, "main.py"), this.user.uid, this.user.gid);
      }
      const uid = this.user?.uid ?? process.getuid?.();
      const tasks = uid === undefined ? null : tasksOf(uid);
      // + 1: the bootstrap, which stays as the run's watchdog.
      const nproc = tasks === null ? 0 : tasks + 1 + PYTHON_LIMITS.processes;
      const limits = [PYTHON_LIMITS.memoryBytes, timeoutSeconds + 1, PYTHON_LIMITS.fileBytes, nproc].map(String);
      const outcome = await this.start((exe) => ({
        argv: [exe, "-I", "-c", PYTHON_BOOTSTRAP, ...limits],
        // An empty environment: nothing of the server's (tokens, paths, proxies) reaches the code.
        env: {},
        cwd: dir,
        ...this.user,
        timeoutMs: timeoutSeconds * 1000,
        maxOutputBytes: PYTHON_LIMITS.outputBytes,
        signal,
      }));
      return answer(outcome, timeoutSeconds);
    } finally {
      removeTree(dir);
    }
  }

  /** Starts the first interpreter that can be started as the code's user (a pyenv shim under /root cannot, as nobody). */
  private start(spec: (exe: string) => Parameters<typeof startChild>[0]): Promise<ChildOutcome> {
    const found = executablesOnPath("python3", this.path);
    const order = this.interpreter ? [this.interpreter, ...found.filter((f) => f !== this.interpreter)] : found;
    for (const exe of order) {
      try {
        const run = startChild(spec(exe));
        this.interpreter = exe;
        return run;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EACCES" && code !== "ENOENT") throw err;
      }
    }
    const who = this.user ? ` that user nobody (${NOBODY}) may run` : "";
    throw new AppError("UPSTREAM_UNAVAILABLE", `python3 is not available here: no python3${who} on PATH (${this.path || "unset"})`);
  }
}

function answer(outcome: ChildOutcome, timeoutSeconds: number): PythonResult {
  if (outcome.stopped === "time") {
    throw limitExceeded("time", `python ran past its time limit of ${timeoutSeconds} s; it and every process it started in its group were killed`);
  }
  if (outcome.stopped === "output") {
    throw limitExceeded("output", `python wrote more than ${PYTHON_LIMITS.outputBytes / 1024 / 1024} MiB of output; it and every process it started in its group were killed`);
  }
  if (outcome.stopped === "cancelled") throw new AppError("INVALID_REQUEST", "The call was cancelled; python and every process it started in its group were killed");
  const broken = brokenLimit(outcome);
  if (broken) {
    const [limit, what] = broken;
    // The end of stderr (the traceback) stays in the error: the code's author needs it to see where.
    throw limitExceeded(limit, `python stopped at its ${limit} limit: ${what}`, {
      exit_code: outcome.exitCode,
      ...(outcome.signal ? { signal: outcome.signal } : {}),
      stderr_tail: outcome.stderr.slice(-STDERR_TAIL_CHARS),
    });
  }
  return {
    exit_code: outcome.exitCode,
    ...(outcome.signal ? { signal: outcome.signal } : {}),
    stdout: outcome.stdout,
    stderr: outcome.stderr,
    duration_ms: outcome.durationMs,
  };
}

const STDERR_TAIL_CHARS = 4096;
const MiB = 1024 * 1024;

/**
 * How Python reports an rlimit it ran into and did not handle: an uncaught error on a traceback's
 * last line (a program that catches it is answered as usual), or the signal the kernel sends.
 * Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE is OSError EFBIG (errno 27); a fork or a
 * thread past RLIMIT_NPROC is EAGAIN (errno 11).
 */
const LIMIT_ERRORS: [RegExp, LimitName, string][] = [
  [/^MemoryError\b/m, "memory", `an allocation went past ${PYTHON_LIMITS.memoryBytes / MiB} MiB of address space (MemoryError)`],
  [/^(?:BlockingIOError: \[Errno 11\]|RuntimeError: can't start new thread)/m, "processes", `it started more than ${PYTHON_LIMITS.processes} processes or threads (BlockingIOError: EAGAIN)`],
  [/^OSError: \[Errno 27\]/m, "file", `it wrote a file larger than ${PYTHON_LIMITS.fileBytes / MiB} MiB (OSError: EFBIG)`],
];

/** The limit that ended a run, if one did. */
function brokenLimit(outcome: ChildOutcome): [LimitName, string] | undefined {
  if (outcome.signal === "SIGXCPU") return ["time", "it used up its CPU time (SIGXCPU)"];
  if (outcome.exitCode === 0) return undefined;
  for (const [pattern, limit, what] of LIMIT_ERRORS) if (pattern.test(outcome.stderr)) return [limit, what];
  return undefined;
}

/**
 * Processes and threads the user has now (RLIMIT_NPROC counts a real user's tasks across the
 * machine, so the cap is set relative to this). null where there is no /proc: no cap is set then.
 */
function tasksOf(uid: number): number | null {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return null;
  }
  let tasks = 0;
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "latin1");
      if (Number(/\nUid:\s+(\d+)/.exec(status)?.[1]) === uid) tasks += Number(/\nThreads:\s+(\d+)/.exec(status)?.[1] ?? 1);
    } catch {
      // the process ended meanwhile
    }
  }
  return tasks;
}

/** Removes the run's directory, whatever modes the code left on what it wrote there. */
function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    try {
      Bun.spawnSync(["chmod", "-R", "u+rwX", dir]);
      chmodSync(dir, 0o700);
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      log.warn("could not remove a python run's directory", { dir, err });
    }
  }
}
