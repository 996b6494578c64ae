import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parley } from "../helpers/parley-cli.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

/**
 * The README's walkthrough, as a user runs it: `parley example config > parley.toml`, `parley serve`
 * (which starts the three example upstreams as child processes), two agent tokens, and two real SDK
 * clients that each see exactly the tools of their grant. Then the same over HTTP upstreams (each
 * example started apart with --port), and what an operator sees: `parley status`, `/healthz`,
 * `parley audit`, and a revocation that reaches an open session.
 */

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const AGENT1_TOOLS = ["battle_echo", "battle_update_battle_process", "battle_report_on_battle_end", "battle_get_battle_log", "code_echo", "code_run_python_code", "code_run_js_code"];
const AGENT2_TOOLS = ["docker_echo", "docker_run_docker", "code_echo", "code_run_python_code", "code_run_js_code"];

interface Walkthrough {
  dir: string;
  server: ServerProcess;
  /** `parley ARGS` on the server's data (its port, so tokens name its audience). */
  cli(args: string[]): ReturnType<typeof parley>;
}

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: "walkthrough", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

async function issue(w: Walkthrough, agent: string, servers: string): Promise<{ token: string; id: string }> {
  const run = await w.cli(["token", "issue", "--agent", agent, "--servers", servers]);
  expect(run.code).toBe(0);
  return { token: run.out.trim(), id: /Agent token (agt_\S+)/.exec(run.err)![1]! };
}

/** `parley status --json` until every upstream is up (they start in the background). */
async function allUp(w: Walkthrough): Promise<{ upstreams: { name: string; state: string; tools: number; transport: string; restarts: number }[] }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = await w.cli(["status", "--json"]);
    if (run.code === 0) return JSON.parse(run.out);
    if (Date.now() > deadline) throw new Error(`upstreams not up in 30 s: ${run.out} ${run.err}\n${w.server.stderr()}`);
    await Bun.sleep(200);
  }
}

const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

async function start(dir: string, config: string): Promise<Walkthrough> {
  writeFileSync(join(dir, "parley.toml"), config);
  const server = await startServer({ dataDir: join(dir, "parley_data"), cwd: dir, keepData: true });
  const cli = (args: string[]) => parley([...args, "--port", String(server.port)], { cwd: dir });
  return { dir, server, cli };
}

/** What both walkthroughs check: each agent sees and may call exactly its grant. */
async function twoAgents(w: Walkthrough) {
  const a1 = await issue(w, "agent_name1", "battle,code");
  const a2 = await issue(w, "agent_name2", "docker,code");
  const c1 = await connect(w.server.mcpUrl, a1.token);
  const c2 = await connect(w.server.mcpUrl, a2.token);
  try {
    expect((await c1.listTools()).tools.map((t) => t.name).sort()).toEqual([...AGENT1_TOOLS].sort());
    expect((await c2.listTools()).tools.map((t) => t.name).sort()).toEqual([...AGENT2_TOOLS].sort());

    const update = (await c1.callTool({ name: "battle_update_battle_process", arguments: { battle_id: "b-1", message: "round 1", reported_by: "agent_name1" } })) as CallToolResult;
    expect(update.isError).toBeFalsy();
    const end = (await c1.callTool({ name: "battle_report_on_battle_end", arguments: { battle_id: "b-1", winner: "agent_name1" } })) as CallToolResult;
    expect(end.isError).toBeFalsy();
    const logged = (await c1.callTool({ name: "battle_get_battle_log", arguments: { battle_id: "b-1" } })) as CallToolResult;
    expect((logged.structuredContent as { events: { message?: string }[] }).events.map((e) => e.message ?? "end")).toEqual(["round 1", "end"]);
    const py = (await c2.callTool({ name: "code_run_python_code", arguments: { code: "print(6 * 7)" } })) as CallToolResult;
    expect((py.structuredContent as { stdout: string }).stdout).toBe("42\n");
    const js = (await c1.callTool({ name: "code_run_js_code", arguments: { code: "[1, 2, 3].map((x) => x * 2).join()" } })) as CallToolResult;
    expect((js.structuredContent as { value: string }).value).toBe("2,4,6");
    // No Docker engine runs here: a clear tool error, not a hang or a crash.
    const docker = (await c2.callTool({ name: "docker_run_docker", arguments: { image: "alpine:3", args: ["echo", "hi"] } })) as CallToolResult;
    expect(docker.isError).toBe(true);
    expect(text(docker)).toMatch(/Docker/);

    // Outside the grant: FORBIDDEN, whether the tool exists (docker_echo, post_message) or is only named like one.
    for (const [client, name] of [[c1, "docker_echo"], [c2, "battle_get_battle_log"], [c1, "post_message"], [c2, "docker_nothing_such"]] as const) {
      const refused = (await client.callTool({ name, arguments: {} })) as CallToolResult;
      expect(refused.isError).toBe(true);
      // Text only (an SDK client checks structured content against the tool's output schema): the code first.
      expect(text(refused)).toMatch(name === "docker_nothing_such" ? /^INVALID_REQUEST: Upstream "docker" has no tool/ : /^FORBIDDEN: /);
      if (name !== "post_message") expect(refused.structuredContent).toBeUndefined();
    }
  } finally {
    await c1.close();
    await c2.close();
  }
  return { a1, a2 };
}

describe("gateway walkthrough over stdio upstreams (parley example config)", () => {
  let dir: string;
  let w: Walkthrough;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "parley-walk-"));
    const printed = await parley(["example", "config", "--data", join(dir, "parley_data")], { cwd: dir });
    expect(printed.code).toBe(0);
    // From a directory where `parley` is not on PATH: the config's `parley` is this executable.
    // The test's 200 concurrent calls all come from one address, past the default 64 in progress.
    w = await start(dir, `max_requests_per_address = 256\n${printed.out}`);
  }, 60_000);
  afterAll(async () => {
    await w?.server[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  test("each upstream up, as `parley status` shows", async () => {
    const status = await allUp(w);
    expect(status.upstreams.map((u) => [u.name, u.state, u.transport, u.tools])).toEqual([
      ["battle", "up", "stdio", 4],
      ["docker", "up", "stdio", 2],
      ["code", "up", "stdio", 3],
    ]);
    const human = await w.cli(["status"]);
    expect(human.out).toMatch(/^battle\s+stdio\s+up since \S+\s+4 tools\s+0 restarts\s+pid \d+$/m);
    expect(await (await fetch(`${w.server.url}/healthz`)).json()).toEqual({ status: "ok" });
  }, 60_000);

  test("two agents, each its grant; every call in the audit, which verifies", async () => {
    await allUp(w);
    await twoAgents(w);
    const audit = await w.cli(["audit", "--agent", "agent_name1"]);
    expect(audit.code).toBe(0);
    expect(audit.out).toMatch(/agent:agent_name1\s+battle\/update_battle_process\s+ok/);
    expect(audit.out).toMatch(/agent:agent_name1\s+docker\/echo\s+FORBIDDEN/);
    expect(audit.out).not.toMatch(/agent_name2/);
    // Never a value: the python code and the battle message are nowhere in it.
    expect((await w.cli(["audit", "--json"])).out).not.toMatch(/round 1|6 \* 7/);
    const verified = await w.cli(["audit", "--verify"]);
    expect([verified.code, verified.out]).toEqual([0, expect.stringMatching(/^VALID/)]);
  }, 60_000);

  test("bad input to every example tool through the gateway: each a clear error, the gateway and the other upstreams unaffected", async () => {
    await allUp(w);
    const { token } = await issue(w, "attacker", "battle,docker,code");
    const client = await connect(w.server.mcpUrl, token);
    try {
      const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 }) as Promise<CallToolResult>;
      const attacks: [string, Record<string, unknown>, RegExp][] = [
        ["battle_update_battle_process", { battle_id: "../../etc/passwd", message: "x", reported_by: "a" }, /^INVALID_REQUEST: .*battle_id/],
        ["battle_get_battle_log", { battle_id: "a\u0000b" }, /^INVALID_REQUEST: .*battle_id/],
        ["docker_run_docker", { image: "alpine;rm -rf /", args: [] }, /^INVALID_REQUEST: .*image/],
        ["docker_run_docker", { image: "alpine", args: ["sh", "-c", "$(id); `reboot`"] }, /^UPSTREAM_UNAVAILABLE: No Docker engine/],
        ["code_run_python_code", { code: "while True: pass", timeout_s: 1 }, /^INVALID_REQUEST: .*time/],
        ["code_run_python_code", { code: "import os\nwhile True: os.fork()", timeout_s: 5 }, /^INVALID_REQUEST: /],
        ["code_run_python_code", { code: "import sys\nsys.stdout.write('x' * 100_000_000)" }, /^INVALID_REQUEST: .*output/],
        ["code_run_js_code", { code: "for (;;) {}" }, /^INVALID_REQUEST: /],
      ];
      const running = attacks.map(([name, args]) => call(name, args));
      // Meanwhile every upstream answers at once.
      for (const name of ["battle_echo", "docker_echo", "code_echo"]) expect((await call(name, { message: "still here" })).structuredContent).toEqual({ message: "still here" });
      const results = await Promise.all(running);
      results.forEach((r, i) => {
        expect([attacks[i]![0], r.isError]).toEqual([attacks[i]![0], true]);
        expect(text(r)).toMatch(attacks[i]![2]);
      });
      const status = await allUp(w);
      expect(status.upstreams.map((u) => [u.name, u.state, u.restarts])).toEqual([["battle", "up", 0], ["docker", "up", 0], ["code", "up", 0]]);
      expect((await call("code_run_python_code", { code: "print('after')" })).structuredContent).toMatchObject({ exit_code: 0, stdout: "after\n" });
    } finally {
      await client.close();
    }
  }, 90_000);

  test("200 concurrent calls across the three upstreams all answer", async () => {
    await allUp(w);
    const { token } = await issue(w, "loader", "battle,docker,code");
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect(w.server.mcpUrl, token)));
    try {
      const names = ["battle_echo", "docker_echo", "code_echo"];
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => clients[i % 4]!.callTool({ name: names[i % 3]!, arguments: { message: `m${i}` } }) as Promise<CallToolResult>),
      );
      expect(results.map((r) => (r.structuredContent as { message: string }).message)).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 60_000);

  test("a token revoked mid-session: the open session hears list_changed, its next call is refused", async () => {
    await allUp(w);
    const { token, id } = await issue(w, "short_lived", "code");
    const client = await connect(w.server.mcpUrl, token);
    const heard = new Promise<void>((done) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => done()));
    expect((await client.callTool({ name: "code_echo", arguments: { message: "before" } })).isError).toBeFalsy();
    // The SDK opens its GET stream after initialize; give it a moment to be there.
    await Bun.sleep(300);
    expect((await w.cli(["token", "revoke", id])).code).toBe(0);
    await heard;
    await expect(client.callTool({ name: "code_echo", arguments: { message: "after" } })).rejects.toThrow(/401|revoked|Unauthorized/i);
    await client.close().catch(() => {});
  }, 60_000);
});

describe("gateway walkthrough over HTTP upstreams (url =)", () => {
  let dir: string;
  let w: Walkthrough;
  const examples: { name: string; port: number; proc: Bun.Subprocess }[] = [];

  async function serveExample(name: string, port: number) {
    const data = name === "battle" ? ["--data", join(dir, "examples-data")] : [];
    const proc = Bun.spawn([process.execPath, MAIN, "example", name, "--port", String(port), ...data], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    let out = "";
    // Read to the end (not cancelled at the banner: a closed pipe would end the example).
    const serving = new Promise<void>((started, failed) => {
      void (async () => {
        for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
          out += chunk;
          if (out.includes("serving at")) started();
        }
        failed(new Error(`example ${name} exited before serving: ${out}`));
      })();
    });
    await serving;
    return proc;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "parley-walk-http-"));
    for (const name of ["battle", "docker", "code"]) {
      const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
      const port = probe.port!;
      await probe.stop(true);
      examples.push({ name, port, proc: await serveExample(name, port) });
    }
    const config = examples.map((e) => `[[upstream]]\nname = "${e.name}"\nurl = "http://127.0.0.1:${e.port}/mcp"\n`).join("\n");
    w = await start(dir, `${config}\n[auth]\ndefault_servers = ["channels"]\n`);
  }, 60_000);
  afterAll(async () => {
    await w?.server[Symbol.asyncDispose]();
    for (const e of examples) e.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  test("two agents, each its grant, through HTTP upstreams", async () => {
    const status = await allUp(w);
    expect(status.upstreams.map((u) => [u.name, u.state, u.transport])).toEqual([
      ["battle", "up", "http"],
      ["docker", "up", "http"],
      ["code", "up", "http"],
    ]);
    await twoAgents(w);
  }, 60_000);

  test("an upstream that goes away: its tools hidden, UPSTREAM_UNAVAILABLE, /healthz degraded; back when it returns", async () => {
    await allUp(w);
    const { token } = await issue(w, "watcher", "code,battle");
    const client = await connect(w.server.mcpUrl, token);
    try {
      const code = examples.find((e) => e.name === "code")!;
      code.proc.kill("SIGKILL");
      await code.proc.exited;
      // The gateway learns it at the next call (or its periodic ping).
      const failed = (await client.callTool({ name: "code_echo", arguments: { message: "x" } })) as CallToolResult;
      expect(text(failed)).toMatch(/^UPSTREAM_UNAVAILABLE: /);
      await waitFor(async () => (await (await fetch(`${w.server.url}/healthz`)).json()).status === "degraded");
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(["battle_echo", "battle_get_battle_log", "battle_report_on_battle_end", "battle_update_battle_process"]);
      // The others answer meanwhile.
      expect((await client.callTool({ name: "battle_echo", arguments: { message: "still" } })).isError).toBeFalsy();
      const status = await w.cli(["status"]);
      expect(status.code).toBe(1);
      expect(status.out).toMatch(/^code\s+http\s+down since \S+, retry in \d+ s/m);

      code.proc = await serveExample("code", code.port);
      await allUp(w);
      expect((await client.callTool({ name: "code_echo", arguments: { message: "back" } })).structuredContent).toEqual({ message: "back" });
      expect(await (await fetch(`${w.server.url}/healthz`)).json()).toEqual({ status: "ok" });
    } finally {
      await client.close();
    }
  }, 60_000);
});

async function waitFor(check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(100);
  }
}
