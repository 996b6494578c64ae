import { describe, expect, test } from "bun:test";
import { liveProcessesWith, startExample } from "../helpers/example-upstream.ts";
import { fakeDocker } from "../helpers/fake-docker.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// A run (python, docker) lives in a process group of its own, so that the run's end can kill all
// of it; the gateway's stop (stdin closed, SIGTERM, then SIGKILL to the example's group) does not
// reach that group. The example must end its runs itself.

/** A python run that sleeps, with `marker` in every process's argv (it re-executes itself with it). */
const sleeper = (marker: string) => `import os, sys, time
if len(sys.argv) < 2:
    os.execv(sys.executable, [sys.executable, '-I', 'main.py', '${marker}'])
if os.fork() == 0:
    time.sleep(120)
time.sleep(120)`;

async function until(condition: () => Promise<boolean> | boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await Bun.sleep(50);
  }
  return false;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("parley example code: stopping the example ends its runs", () => {
  for (const how of ["stdin closed", "SIGTERM", "SIGKILL"] as const) {
    test(`${how}: the example ends and no process of a running python call is left`, async () => {
      const marker = `stopped${how.replace(/\W/g, "")}${Date.now()}`;
      const ex = await startExample("code", "stdio");
      try {
        const call = ex.raw("run_python_code", { code: sleeper(marker), timeout_s: 60 }).catch(() => "gone");
        expect(await until(async () => (await liveProcessesWith(marker)).length === 2)).toBe(true);
        if (how === "stdin closed") await ex[Symbol.asyncDispose]();
        else process.kill(ex.pid, how);
        expect(await until(() => !alive(ex.pid))).toBe(true);
        expect(await until(async () => (await liveProcessesWith(marker)).length === 0, 5_000)).toBe(true);
        await call;
      } finally {
        await ex[Symbol.asyncDispose]();
        // What a failed run of this test left behind (its own processes, by pid).
        for (const line of await liveProcessesWith(marker)) process.kill(Number(line.split(" ")[0]), "SIGKILL");
      }
    });
  }
});

describe("parley example docker: stopping the example removes its running containers", () => {
  test("stdin closed during a run: docker rm --force NAME, then the example ends", async () => {
    using dir = tempDir();
    const fake = fakeDocker(dir.path);
    const ex = await startExample("docker", "stdio", { env: fake.env });
    const call = ex.raw("run_docker", { image: "alpine", args: ["sleep"], timeout_s: 120 }).catch(() => "gone");
    expect(await until(() => fake.calls().length === 1)).toBe(true);
    await ex[Symbol.asyncDispose]();
    expect(alive(ex.pid)).toBe(false);
    const [run, rm] = fake.calls();
    expect(rm).toEqual(["rm", "--force", run![3]!]);
    await call;
  });
});
