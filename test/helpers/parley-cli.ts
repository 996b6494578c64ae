import { resolve } from "node:path";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
  /** A `serve` that printed its banner (it was then stopped): it started when it should not have. */
  started: boolean;
}

/**
 * Runs `parley ARGS` (bun src/main.ts) to its end and returns its exit code and output. A `serve`
 * that starts anyway is killed once its banner appears, so a test of a refused start cannot hang.
 */
export async function parley(args: string[], options: { cwd?: string; env?: Record<string, string>; as?: { uid: number; gid: number }; stdin?: string } = {}): Promise<CliRun> {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    ...options.as,
  });
  let out = "";
  let started = false;
  const reading = (async () => {
    for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (!started && out.includes("serving at")) {
        started = true;
        proc.kill("SIGKILL");
      }
    }
  })();
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text(), reading]);
  return { code, out, err, started };
}
