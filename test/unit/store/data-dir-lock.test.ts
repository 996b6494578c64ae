import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { AppError } from "../../../src/errors.ts";
import { lockDataDir, tryLockDataDir } from "../../../src/store/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const STORE = resolve(import.meta.dir, "../../../src/store/index.ts");

/** A child process that takes the lock and holds it until killed; resolves once it holds it. */
async function holdInChild(dir: string) {
  const script = `import { lockDataDir } from ${JSON.stringify(STORE)}; globalThis.held = lockDataDir(${JSON.stringify(dir)}, { adminSocket: "/x.sock" }); console.log("locked"); setInterval(() => {}, 1000);`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child did not lock: ${await new Response(proc.stderr).text()}`);
    out += value;
  }
  return proc;
}

describe("lockDataDir()", () => {
  test("a second lock on the same directory is refused naming the directory and the holder's pid, until the first is released", () => {
    using dir = tempDir();
    const first = lockDataDir(dir.path);
    let refused: unknown;
    try {
      lockDataDir(dir.path);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).message).toContain(dir.path);
    expect((refused as AppError).message).toContain(`pid ${process.pid}`);
    expect((refused as AppError).message.split("\n")).toHaveLength(1);
    first.release();
    lockDataDir(dir.path).release();
  });

  test("tryLockDataDir() reports the holder (pid, admin socket) without throwing, and takes the lock once the holder is gone", async () => {
    using dir = tempDir();
    const child = await holdInChild(dir.path);
    try {
      const attempt = tryLockDataDir(dir.path);
      expect(attempt.lock).toBeUndefined();
      expect(attempt.holder).toMatchObject({ pid: child.pid, adminSocket: "/x.sock" });
    } finally {
      child.kill("SIGKILL");
      await child.exited;
    }
    const after = tryLockDataDir(dir.path);
    expect(after.holder).toBeUndefined();
    after.lock!.release();
  });

  test("a holder killed with SIGKILL leaves no stale lock: the next start takes it at once", async () => {
    using dir = tempDir();
    const child = await holdInChild(dir.path);
    expect(() => lockDataDir(dir.path)).toThrow(`pid ${child.pid}`);
    child.kill("SIGKILL");
    await child.exited;
    const lock = lockDataDir(dir.path);
    expect(tryLockDataDir(dir.path).holder?.pid).toBe(process.pid);
    lock.release();
  });

  test("a lock nobody references is still held after a garbage collection (bun:sqlite closes unreferenced databases)", () => {
    using dir = tempDir();
    lockDataDir(dir.path);
    Bun.gc(true);
    expect(() => lockDataDir(dir.path)).toThrow(`pid ${process.pid}`);
  });

  test("the lock file lives in the data directory and survives release (never deleted: a deleted lock file can be locked twice)", () => {
    using dir = tempDir();
    lockDataDir(dir.path).release();
    expect(Bun.file(join(dir.path, "parley.lock")).size).toBeGreaterThan(0);
  });
});
