import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { liveProcessesWith, startExample, type Transport } from "../helpers/example-upstream.ts";

// `parley example code` as a real child process: run_python_code (python3 -I in a child with
// rlimits) and run_js_code (the bots' QuickJS sandbox).

for (const transport of ["stdio", "http"] as Transport[]) {
  describe(`parley example code over ${transport}`, () => {
    test("echo, run_python_code and run_js_code answer their normal results", async () => {
      await using ex = await startExample("code", transport);
      expect((await ex.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["echo", "run_js_code", "run_python_code"]);
      expect(await ex.call("echo", { message: "hi" })).toEqual({ message: "hi" });
      const py = await ex.call("run_python_code", { code: "import sys\nprint(sum(range(10)))\nprint('oops', file=sys.stderr)" });
      expect(py).toMatchObject({ exit_code: 0, stdout: "45\n", stderr: "oops\n" });
      expect(py.duration_ms).toBeGreaterThanOrEqual(0);
      const failed = await ex.call("run_python_code", { code: "raise ValueError('no')" });
      expect(failed.exit_code).toBe(1);
      expect(failed.stderr).toContain("ValueError: no");
      expect(await ex.call("run_python_code", { code: "import sys\nsys.exit(3)" })).toMatchObject({ exit_code: 3 });
      const killed = await ex.call("run_python_code", { code: "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)" });
      expect(killed).toMatchObject({ exit_code: null, signal: "SIGSEGV" });
      expect(await ex.call("run_js_code", { code: "console.log('a', {b: 1}); [1, 2, 3].map((x) => x * 2)" })).toEqual({ value: "[2,4,6]", output: 'a {"b":1}' });
      expect(await ex.call("run_js_code", { code: "throw new TypeError('nope')" })).toEqual({ error: "TypeError: nope", output: "" });
    });
  });
}

describe("parley example code: run_python_code bad input", () => {
  test("the environment is empty and the working directory a fresh temp dir, removed after the run", async () => {
    await using ex = await startExample("code", "stdio", { env: { ...(process.env as Record<string, string>), PARLEY_SECRET_PROBE: "s3cret" } });
    const r = await ex.call("run_python_code", {
      code: "import os, json\nprint(json.dumps({'environ': open('/proc/self/environ','rb').read().decode(), 'keys': sorted(os.environ), 'cwd': os.getcwd(), 'files': sorted(os.listdir('.'))}))",
    });
    const seen = JSON.parse(r.stdout);
    // What the process was given (/proc/self/environ) is empty; os.environ may hold only what
    // Python sets itself (PEP 538 locale coercion: LC_CTYPE).
    expect(seen.environ).toBe("");
    expect(seen.keys.filter((k: string) => k !== "LC_CTYPE")).toEqual([]);
    expect(seen.cwd).toMatch(/\/parley-python-[^/]+$/);
    expect(seen.files).toEqual(["main.py"]);
    expect(existsSync(seen.cwd)).toBe(false);
    const second = JSON.parse((await ex.call("run_python_code", { code: "import os, json\nprint(json.dumps(os.getcwd()))" })).stdout);
    expect(second).not.toBe(seen.cwd);
  });

  test("an infinite loop stops at its time limit: INVALID_REQUEST, limit time; the example still serves", async () => {
    await using ex = await startExample("code", "stdio");
    const e = await ex.error("run_python_code", { code: "while True:\n    pass", timeout_s: 1 });
    expect(e.code).toBe("INVALID_REQUEST");
    expect(e.detail).toEqual({ limit: "time" });
    expect(e.text).toContain("time limit of 1 s");
    expect(await ex.call("echo", { message: "alive" })).toEqual({ message: "alive" });
  });

  test("100 MB of output is cut at the output cap: INVALID_REQUEST, limit output", async () => {
    await using ex = await startExample("code", "stdio");
    const e = await ex.error("run_python_code", { code: "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)" });
    expect(e.code).toBe("INVALID_REQUEST");
    expect(e.detail).toEqual({ limit: "output" });
    expect(await ex.call("run_python_code", { code: "print('ok')" })).toMatchObject({ stdout: "ok\n" });
  });

  test("a memory hog stops at the memory limit: INVALID_REQUEST, limit memory", async () => {
    await using ex = await startExample("code", "stdio");
    const e = await ex.error("run_python_code", { code: "hog = bytearray(2 * 1024 ** 3)" });
    expect(e.code).toBe("INVALID_REQUEST");
    expect(e.detail?.limit).toBe("memory");
    expect(e.text).toContain("MemoryError");
    // A program that handles the error itself is its own business: an ordinary answer.
    const handled = await ex.call("run_python_code", { code: "try:\n    bytearray(2 * 1024 ** 3)\nexcept MemoryError:\n    print('handled')" });
    expect(handled).toMatchObject({ exit_code: 0, stdout: "handled\n" });
  });

  test("a file past the file-size limit: INVALID_REQUEST, limit file", async () => {
    await using ex = await startExample("code", "stdio");
    const e = await ex.error("run_python_code", { code: "with open('big', 'wb') as f:\n    f.write(b'x' * (17 * 1024 * 1024))" });
    expect(e.code).toBe("INVALID_REQUEST");
    expect(e.detail?.limit).toBe("file");
  });

  test("a fifth run at once is RATE_LIMITED at once; the four others finish", async () => {
    await using ex = await startExample("code", "stdio");
    // Sent together: stdio delivers them in order, and each takes its place before its first await.
    const slow = Array.from({ length: 4 }, () => ex.call("run_python_code", { code: "import time\ntime.sleep(1)\nprint('done')" }));
    const e = await ex.error("run_python_code", { code: "print(1)" });
    expect(e.code).toBe("RATE_LIMITED");
    for (const r of await Promise.all(slow)) expect(r.stdout).toBe("done\n");
    expect(await ex.call("run_python_code", { code: "print(1)" })).toMatchObject({ stdout: "1\n" });
  });

  test("a fork bomb stops at the process limit: INVALID_REQUEST, limit processes; none of its processes outlive the call", async () => {
    await using ex = await startExample("code", "stdio");
    const marker = `forkbomb${Date.now()}`;
    // The marker is in each process's argv (os.execv of python itself), so survivors can be found.
    const e = await ex.error("run_python_code", {
      code: `import os, sys\nif len(sys.argv) < 2:\n    os.execv(sys.executable, [sys.executable, '-I', 'main.py', '${marker}'])\nwhile True:\n    os.fork()`,
      timeout_s: 20,
    });
    expect(e.code).toBe("INVALID_REQUEST");
    expect(e.detail?.limit).toBe("processes");
    expect(await liveProcessesWith(marker)).toEqual([]);
    expect(await ex.call("echo", { message: "alive" })).toEqual({ message: "alive" });
  });

  test("a fork bomb that survives its errors runs into the time limit; nothing is left running", async () => {
    await using ex = await startExample("code", "stdio");
    const marker = `stubborn${Date.now()}`;
    const e = await ex.error("run_python_code", {
      code: `import os, sys\nif len(sys.argv) < 2:\n    os.execv(sys.executable, [sys.executable, '-I', 'main.py', '${marker}'])\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass`,
      timeout_s: 2,
    });
    expect(e.detail?.limit).toBe("time");
    expect(await liveProcessesWith(marker)).toEqual([]);
  });

  test("python3 missing from PATH: UPSTREAM_UNAVAILABLE saying so; the example still serves", async () => {
    await using ex = await startExample("code", "stdio", { env: { PATH: "/nonexistent-bin" } });
    const e = await ex.error("run_python_code", { code: "print(1)" });
    expect(e.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(e.text).toContain("python3 is not available here");
    expect(e.text).toContain("/nonexistent-bin");
    expect(await ex.call("run_js_code", { code: "6 * 7" })).toEqual({ value: "42", output: "" });
  });

  test("oversized or malformed arguments are INVALID_REQUEST naming the field", async () => {
    await using ex = await startExample("code", "stdio");
    const cases: [string, Record<string, unknown>, string][] = [
      ["run_python_code", { code: "#".repeat(256 * 1024 + 1) }, "code"],
      ["run_python_code", { code: "" }, "code"],
      ["run_python_code", { code: "print(1)", timeout_s: 61 }, "timeout_s"],
      ["run_python_code", { code: "print(1)", timeout_s: 0.5 }, "timeout_s"],
      ["run_js_code", { code: "/".repeat(64 * 1024 + 1) }, "code"],
      ["run_js_code", { code: 1 }, "code"],
    ];
    for (const [tool, args, field] of cases) {
      const e = await ex.error(tool, args);
      expect(e.code).toBe("INVALID_REQUEST");
      expect(e.text).toStartWith(`INVALID_REQUEST: Invalid arguments for ${tool}: ${field}:`);
    }
  });
});

describe("parley example code: run_js_code bad input", () => {
  test("an infinite loop, a memory hog, deep recursion and an output flood each stop at a sandbox limit; the example still serves", async () => {
    await using ex = await startExample("code", "stdio");
    const cases: [string, string][] = [
      ["for (;;) {}", "budget"],
      ["for (;;) { try { for (;;) {} } catch (e) {} }", "budget"],
      ["const a = []; for (;;) a.push(new Float64Array(1e5))", "memory"],
      ["for (let i = 0; i < 1e6; i++) console.log('x'.repeat(1000))", "output"],
    ];
    for (const [code, limit] of cases) {
      const e = await ex.error("run_js_code", { code });
      expect(e.code).toBe("INVALID_REQUEST");
      expect(e.detail?.limit).toBe(limit);
    }
    // Deep recursion is a RangeError or InternalError the code may see, or a stack limit.
    const deep = await ex.raw("run_js_code", { code: "function f(n) { return f(n + 1) + 1 } f(0)" });
    expect(JSON.stringify(deep)).toMatch(/stack|too much recursion/i);
    expect(await ex.call("run_js_code", { code: "[typeof process, typeof require, typeof fetch, typeof Bun].join()" })).toEqual({
      value: "undefined,undefined,undefined,undefined",
      output: "",
    });
  });
});
