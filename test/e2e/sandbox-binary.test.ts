import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * The sandbox inside a `bun build --compile` binary: the wasm must be embedded (the default loader
 * looks beside the JS and fails there) and the worker must be an entrypoint of the build. Built with
 * `make build`'s flags, run from another directory with no node_modules.
 */
const ROOT = resolve(import.meta.dir, "../..");
const work = tempDir("parley-sandbox-bin-");
const binary = join(work.path, "sandbox-echo");

beforeAll(() => {
  const makefile = Bun.spawnSync(["make", "-s", "-n", "build"], { cwd: ROOT }).stdout.toString();
  const flags = /build src\/main\.ts (.*) --outfile/.exec(makefile)![1]!.split(/\s+/).filter((f) => f.startsWith("--"));
  const entries = ["test/fixtures/sandbox-echo.ts", "src/sandbox/worker.ts"];
  const res = Bun.spawnSync([process.execPath, "build", ...entries, ...flags, "--outfile", binary], { cwd: ROOT, stderr: "pipe" });
  if (res.exitCode !== 0) throw new Error(res.stderr.toString());
}, 120_000);
afterAll(() => work[Symbol.dispose]());

describe("src/sandbox in a compiled binary", () => {
  test("runs EchoBot and stops a runaway bot, from another directory with no node_modules", () => {
    using cwd = tempDir("parley-sandbox-bin-cwd-");
    const run = Bun.spawnSync([binary], { cwd: cwd.path, env: { ...process.env, TZ: "America/New_York" }, stderr: "pipe", timeout: 30_000 });
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
    const out = JSON.parse(run.stdout.toString());
    expect(out.engine).toStartWith("quickjs-");
    expect(out.manifest).toBe("EchoBot");
    expect(out.outputs).toEqual([
      [{ kind: "bot", body: { text: "Echo ready" }, to_slot: null }],
      [{ kind: "bot", body: { echo: "from the binary", from: "s0", n: 1 }, to_slot: null }],
      [{ kind: "bot", body: { echo: "psst", n: 2 }, to_slot: "s1" }],
    ]);
    expect(out.stuck).toStartWith('BOT_ERROR: Bot "runaway" failed in onMessage (budget)');
    expect(out.after).toEqual([{ kind: "bot", body: { ok: Date.parse("2025-03-01T12:00:00.000Z") }, to_slot: null }]);
  });
});
