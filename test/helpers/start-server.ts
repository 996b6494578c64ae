import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

export interface ServerProcess extends AsyncDisposable {
  url: string;
  mcpUrl: string;
  port: number;
  dataDir: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Output so far (banner, warnings). */
  stdout(): string;
  stderr(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartServerOptions {
  /** Reuse a data dir (restart tests); default: a fresh temp dir removed on dispose. */
  dataDir?: string;
  /** Fixed port (restart on the same port); default 0 = free port. */
  port?: number;
  args?: string[];
  env?: Record<string, string>;
  /** Command to run instead of `bun src/main.ts` (e.g. the compiled binary or a fixture entry). */
  command?: string[];
  keepData?: boolean;
  /** Working directory of the process; default: the data dir. */
  cwd?: string;
}

/** Starts the real server as a child process and parses its banner (`serving at http://HOST:PORT`). */
export async function startServer(options: StartServerOptions = {}): Promise<ServerProcess> {
  const ownsData = !options.dataDir;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "parley-test-"));
  const command = options.command ?? [process.execPath, join(ROOT, "src/main.ts")];
  const proc = Bun.spawn([...command, "serve", "--port", String(options.port ?? 0), "--data", dataDir, ...(options.args ?? [])], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    cwd: options.cwd ?? dataDir,
    env: { ...process.env, ...options.env },
  });
  let out = "";
  let err = "";
  const pump = async (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  };
  void pump(proc.stderr, (t) => (err += t));
  let port = 0;
  let host = "";
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s\nstdout: ${out}\nstderr: ${err}`)), 20_000);
    void pump(proc.stdout, (t) => {
      out += t;
      const m = /serving at http:\/\/(\S+):(\d+)/.exec(out);
      if (m && !port) {
        host = m[1]!;
        port = Number(m[2]);
        clearTimeout(timer);
        resolveReady();
      }
    });
    void proc.exited.then((code) => {
      clearTimeout(timer);
      if (!port) reject(new Error(`server exited ${code} before listening\nstdout: ${out}\nstderr: ${err}`));
    });
  });
  const url = `http://localhost:${port}`;
  void host;
  return {
    url,
    mcpUrl: `${url}/mcp`,
    port,
    dataDir,
    proc,
    stdout: () => out,
    stderr: () => err,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      proc.kill(signal);
      return proc.exited;
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      if (ownsData && !options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
