import { describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { selfCommand } from "../../src/gateway/index.ts";
import { fakeDocker } from "../helpers/fake-docker.ts";
import { parley } from "../helpers/parley-cli.ts";
import { tempDir } from "../helpers/temp-dir.ts";

describe("parley example config", () => {
  test("prints a config the config loader accepts: three upstreams whose commands start with parley, OAuth users get channels", async () => {
    using dir = tempDir();
    // A data directory whose name needs TOML escapes.
    const data = join(dir.path, 'da"ta \\ ✓');
    const r = await parley(["example", "config", "--data", data], { cwd: dir.path });
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    writeFileSync(join(dir.path, "parley.toml"), r.out);
    const config = loadConfig({ flags: { config: join(dir.path, "parley.toml") }, env: {}, cwd: dir.path });
    expect(config.data).toBe(data);
    expect(config.default_servers).toEqual(["channels"]);
    expect(config.upstream.map((u) => u.name)).toEqual(["battle", "docker", "code"]);
    for (const u of config.upstream) {
      expect(u.command?.slice(0, 3)).toEqual(["parley", "example", u.name]);
      expect(u.url).toBeUndefined();
    }
    expect(config.upstream[0]!.command).toEqual(["parley", "example", "battle", "--data", data]);
  });

  test("without --data it names ./parley_data as an absolute path, so the config works from any directory", async () => {
    using dir = tempDir();
    const r = await parley(["example", "config"], { cwd: dir.path });
    writeFileSync(join(dir.path, "parley.toml"), r.out);
    const config = loadConfig({ flags: {}, env: {}, cwd: dir.path });
    expect(config.data).toBe(join(dir.path, "parley_data"));
  });

  test("each upstream it wires starts as the gateway starts it (parley = this executable, only the env it names) and serves its tools", async () => {
    using dir = tempDir();
    const data = join(dir.path, "data");
    const r = await parley(["example", "config", "--data", data], { cwd: dir.path });
    writeFileSync(join(dir.path, "parley.toml"), r.out);
    const config = loadConfig({ flags: {}, env: {}, cwd: dir.path });
    // Another working directory, as a server started from anywhere.
    const elsewhere = join(dir.path, "elsewhere");
    mkdirSync(elsewhere);
    const [exe, ...selfArgs] = selfCommand();
    const expected: Record<string, string[]> = {
      battle: ["echo", "get_battle_log", "report_on_battle_end", "update_battle_process"],
      docker: ["echo", "run_docker"],
      code: ["echo", "run_js_code", "run_python_code"],
    };
    for (const u of config.upstream) {
      const env = Object.fromEntries(u.env.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]])));
      const client = new Client({ name: "config-test", version: "1.0.0" });
      await client.connect(new StdioClientTransport({ command: exe!, args: [...selfArgs, ...u.command!.slice(1)], env, cwd: elsewhere, stderr: "ignore" }));
      try {
        expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(expected[u.name]!);
        const echo = await client.callTool({ name: "echo", arguments: { message: u.name } });
        expect(echo.structuredContent).toEqual({ message: u.name });
      } finally {
        await client.close();
      }
    }
  });
});

test("the docker upstream, started with only the env the config names, finds a client on the server's PATH and its engine settings, and nothing else", async () => {
  using dir = tempDir();
  const r = await parley(["example", "config"], { cwd: dir.path });
  writeFileSync(join(dir.path, "parley.toml"), r.out);
  const docker = loadConfig({ flags: {}, env: {}, cwd: dir.path }).upstream.find((u) => u.name === "docker")!;
  // A client outside the default search path (as ~/.docker/bin, /opt/homebrew/bin), a remote or rootless engine.
  const fake = fakeDocker(join(dir.path, "bin-elsewhere"));
  const serverEnv: Record<string, string> = { ...fake.env, DOCKER_HOST: "tcp://127.0.0.1:2376", HOME: dir.path };
  const env = Object.fromEntries(docker.env.flatMap((k) => (serverEnv[k] === undefined ? [] : [[k, serverEnv[k]!]])));
  const [exe, ...selfArgs] = selfCommand();
  const client = new Client({ name: "config-test", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: exe!, args: [...selfArgs, ...docker.command!.slice(1)], env, stderr: "ignore" }));
  try {
    const run = await client.callTool({ name: "run_docker", arguments: { image: "alpine", args: ["true"] } });
    expect(run.structuredContent).toMatchObject({ exit_code: 0, stdout: "container ran\n" });
    const seen = readFileSync(join(dir.path, "bin-elsewhere", "env"), "utf8");
    expect(seen).toContain("DOCKER_HOST=tcp://127.0.0.1:2376");
    expect(seen).not.toContain("SECRET_OF_THE_SERVER");
  } finally {
    await client.close();
  }
});

describe("parley example: bad command lines", () => {
  const bad: [string, string[], RegExp][] = [
    ["an unknown example", ["example", "nope"], /Unknown example "nope": choose battle, docker, code or config/],
    ["no example named", ["example"], /Unknown example ""/],
    ["an extra argument", ["example", "code", "more"], /Unexpected argument "more"/],
    ["a bad port", ["example", "code", "--port", "99999"], /Invalid --port "99999"/],
    ["a port that is not a number", ["example", "code", "--port", "1e3"], /Invalid --port "1e3"/],
    ["--host without --port", ["example", "code", "--host", "127.0.0.1"], /--host goes with --port/],
    ["--data for an example that keeps none", ["example", "docker", "--data", "x"], /--data is for the battle example/],
    ["--port for config", ["example", "config", "--port", "1"], /takes only --data/],
    ["an unknown flag", ["example", "code", "--prot", "1"], /Unknown option '--prot'/],
  ];
  for (const [name, args, message] of bad) {
    test(`${name}: one line on stderr, exit 2`, async () => {
      using dir = tempDir();
      const r = await parley(args, { cwd: dir.path });
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.started).toBe(false);
    });
  }
});
