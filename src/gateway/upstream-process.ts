import { resolve } from "node:path";
import { AppError } from "../errors.ts";
import { log } from "../lib/log.ts";
import { LineSplitter } from "./lines.ts";

/** Longest stderr line logged as it is; the rest of it is dropped. */
const MAX_STDERR_LINE = 4096;
/** stderr lines logged per upstream per window; beyond, they are counted and the count is logged. */
const STDERR_LINES_PER_WINDOW = 200;
const STDERR_WINDOW_MS = 10_000;

/**
 * This executable, as a command: the compiled binary itself, or Bun and the entry script when run
 * from source. A config's `command = ["parley", …]` runs it, so the printed example config works
 * from any directory with no PATH set up.
 */
export function selfCommand(): string[] {
  // Inside `bun build --compile` every module lives under /$bunfs/ (B:/~BUN/ on Windows).
  const compiled = import.meta.path.startsWith("/$bunfs/") || import.meta.path.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, resolve(import.meta.dir, "../main.ts")];
}

/**
 * The argv to spawn: `parley` is this executable; a bare name is looked up on the server's PATH
 * (the child's own environment has only what its config names, usually no PATH).
 */
export function resolveCommand(command: readonly string[], path: string | undefined, self: readonly string[]): string[] {
  const [first = "", ...rest] = command;
  if (first === "parley") return [...self, ...rest];
  if (first.includes("/")) return [first, ...rest];
  const found = Bun.which(first, { PATH: path ?? "" });
  if (!found) throw new AppError("UPSTREAM_UNAVAILABLE", `command "${first}" not found on the server's PATH`);
  return [found, ...rest];
}

/** The environment a stdio upstream gets: the variables its config names that are set, nothing else. */
export function childEnv(names: readonly string[], env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export interface SpawnSpec {
  server: string;
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
}

/**
 * One stdio upstream's process, the leader of its own process group (setsid: Bun's `detached`),
 * so that stopping it reaches whatever it started too. Its stderr goes to the log under the
 * server's name; its stdin and stdout belong to the MCP transport (stdio-transport.ts).
 */
export class UpstreamProcess {
  readonly pid: number;
  readonly exited: Promise<number | null>;
  private readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">;

  constructor(spec: SpawnSpec) {
    this.proc = Bun.spawn(spec.argv, {
      env: spec.env,
      cwd: spec.cwd,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    this.pid = this.proc.pid;
    this.exited = this.proc.exited.then(
      () => this.proc.exitCode,
      () => null,
    );
    void pumpStderr(spec.server, this.proc.stderr);
  }

  get stdin(): Bun.FileSink {
    return this.proc.stdin;
  }

  get stdout(): ReadableStream<Uint8Array> {
    return this.proc.stdout;
  }

  /** How it ended, for the log and `parley status` (null while it runs). */
  get exitDescription(): string | null {
    if (this.proc.signalCode) return `killed by ${this.proc.signalCode}`;
    return this.proc.exitCode === null ? null : `exited with code ${this.proc.exitCode}`;
  }

  /**
   * Stops the whole group, as MCP's stdio shutdown asks (2025-11-25 lifecycle: close its input,
   * then SIGTERM, then SIGKILL): the leader gets `graceMs` after its stdin closes and as long
   * again after SIGTERM; then everything left in the group, grandchildren included, gets SIGKILL,
   * also when the leader had already exited (a child it forked outlives it otherwise).
   */
  async stop(graceMs: number): Promise<void> {
    try {
      this.proc.stdin.end();
    } catch {
      // Already closed: it exited.
    }
    if (!(await settlesWithin(this.exited, graceMs))) {
      signalGroup(this.pid, "SIGTERM");
      await settlesWithin(this.exited, graceMs);
    }
    signalGroup(this.pid, "SIGKILL");
    await this.exited;
  }
}

/** kill(-pgid): every process of the group (the leader's pid is the group's id after setsid). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((done) => (timer = setTimeout(() => done(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Each stderr line into the log as `upstream stderr server=NAME line=…`, at most a window's worth. */
async function pumpStderr(server: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  let windowStart = 0;
  let logged = 0;
  let dropped = 0;
  const write = (line: string) => {
    if (line.trim() === "") return;
    const now = Date.now();
    if (now - windowStart >= STDERR_WINDOW_MS) {
      if (dropped > 0) log.warn("upstream stderr not logged", { server, lines: dropped });
      windowStart = now;
      logged = 0;
      dropped = 0;
    }
    if (logged >= STDERR_LINES_PER_WINDOW) return void dropped++;
    logged++;
    log.info("upstream stderr", { server, line });
  };
  const lines = new LineSplitter(MAX_STDERR_LINE, write, (head) => write(`${head}…`));
  try {
    for await (const chunk of stream) lines.push(chunk);
  } catch {
    // The pipe broke with the process.
  }
  lines.end();
  if (dropped > 0) log.warn("upstream stderr not logged", { server, lines: dropped });
}
