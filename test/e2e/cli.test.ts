import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/temp-dir.ts";
import { startServer } from "../helpers/start-server.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

function parley(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const res = Bun.spawnSync([process.execPath, MAIN, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdout: "pipe", stderr: "pipe" });
  return { code: res.exitCode, out: res.stdout.toString(), err: res.stderr.toString() };
}

describe("parley CLI", () => {
  test("version and help print and exit 0 without touching the data dir", () => {
    using dir = tempDir();
    const v = parley(["version"], { cwd: dir.path });
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^parley \d+\.\d+\.\d+/);
    const h = parley(["help"], { cwd: dir.path });
    expect(h.code).toBe(0);
    expect(h.out).toContain("parley serve");
    expect(existsSync(join(dir.path, "parley_data"))).toBe(false);
  });

  const bad: [string, string[], Record<string, string>, RegExp][] = [
    ["an unknown command", ["serf"], {}, /unknown command "serf"/],
    ["an unknown flag", ["serve", "--prot", "1"], {}, /Unknown option '--prot'/],
    ["a flag missing its value", ["serve", "--port"], {}, /--port/],
    ["a bad port", ["serve", "--port", "99999"], {}, /"port" from --port/],
    ["a bad env value", ["serve"], { PARLEY_PUBLIC_URL: "not a url" }, /"public_url" from PARLEY_PUBLIC_URL/],
  ];
  for (const [name, args, env, message] of bad) {
    test(`${name}: one line on stderr, exit 2, no data dir created`, () => {
      using dir = tempDir();
      const r = parley(args, { cwd: dir.path, env });
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(existsSync(join(dir.path, "parley_data"))).toBe(false);
    });
  }

  test("a broken parley.toml in the working directory is named, exit 2", () => {
    using dir = tempDir();
    writeFileSync(join(dir.path, "parley.toml"), "port = [\n");
    const r = parley(["serve"], { cwd: dir.path });
    expect(r.code).toBe(2);
    expect(r.err).toContain("parley.toml");
  });

  test("serve prints a banner with every URL and the data dir's absolute path, and stops cleanly on SIGTERM", async () => {
    await using srv = await startServer();
    const out = srv.stdout();
    expect(out).toMatch(/^Parley \d+\.\d+\.\d+ serving at http:\/\/127\.0\.0\.1:\d+\n/);
    expect(out).toContain(`MCP:    http://localhost:${srv.port}/mcp`);
    expect(out).toContain(`Data:   ${srv.dataDir}`);
    expect((await fetch(`${srv.url}/`)).status).toBe(200);
    expect(await srv.kill("SIGTERM")).toBe(0);
  });

  test("binding a non-loopback host without --passcode prints a clear warning; with one, none", async () => {
    await using open = await startServer({ args: ["--host", "0.0.0.0"] });
    expect(open.stdout()).toContain("WARNING: serving 0.0.0.0 without --passcode");
    await using guarded = await startServer({ args: ["--host", "0.0.0.0", "--passcode", "correct horse"] });
    expect(guarded.stdout()).toContain("passcode required");
    expect(guarded.stdout()).not.toContain("WARNING");
  });

  test("--no-auth refuses a non-loopback host (exit 2) and says so in the banner on loopback", async () => {
    using dir = tempDir();
    const r = parley(["serve", "--no-auth", "--host", "0.0.0.0", "--port", "0"], { cwd: dir.path });
    expect(r.code).toBe(2);
    expect(r.err).toContain("--no-auth is only for local testing");
    expect(existsSync(join(dir.path, "parley_data"))).toBe(false);
    await using local = await startServer({ args: ["--no-auth"] });
    expect(local.stdout()).toContain("Auth:   OFF");
  });

  test("a second server on a port already in use fails with a clear message instead of sharing it", async () => {
    await using first = await startServer();
    using dir = tempDir();
    const r = parley(["serve", "--port", String(first.port), "--data", join(dir.path, "d")], { cwd: dir.path });
    expect(r.code).toBe(2);
    expect(r.err).toBe(`parley: port ${first.port} on 127.0.0.1 is in use (another server?); stop it, or pick another --port\n`);
    expect((await fetch(`${first.url}/`)).status).toBe(200);
  });
});
