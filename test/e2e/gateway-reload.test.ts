import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { connect, type TestClient } from "../helpers/mcp-client.ts";
import { parley } from "../helpers/parley-cli.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";
import { stdioUpstream, upstreamToml } from "../helpers/upstreams.ts";

// Issue 11 item 6: SIGHUP and a changed config file add, remove and restart upstreams with no
// MCP session dropped; the sessions whose grant names an affected server hear tools/list_changed.

function configText(defaults: string[], upstreams: Record<string, unknown>[], extra = ""): string {
  return `default_servers = ${JSON.stringify(defaults)}\n${extra}\n${upstreamToml(...upstreams)}\n`;
}

/** As an editor saves: a new file renamed over the old one. */
function save(path: string, text: string): void {
  writeFileSync(`${path}.swp`, text);
  renameSync(`${path}.swp`, path);
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(100);
  }
}

/** A session that counts the tools/list_changed notifications its GET stream brings. */
async function session(srv: ServerProcess, token?: string): Promise<TestClient & { changes: () => number; servers: () => Promise<string[]> }> {
  const c = await connect(srv.mcpUrl, "reload-test", token ? { token } : { noAuth: true });
  let changes = 0;
  c.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void changes++);
  // The upstreams whose tools it lists.
  const servers = async () => [...new Set((await c.client.listTools()).tools.map((t) => t.name.split("_")[0]!))].filter((s) => ["alpha", "beta", "gamma"].includes(s)).sort();
  return Object.assign(c, { changes: () => changes, servers });
}

const logged = (srv: ServerProcess, pattern: RegExp) => until(`log line ${pattern}`, () => pattern.test(srv.stderr()) || undefined);

describe("gateway: hot reload", () => {
  test("a rewritten config file removes one upstream and adds another: the session stays, hears list_changed, and a call in flight to the removed one ends UPSTREAM_UNAVAILABLE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-reload-"));
    try {
      const path = join(dir, "parley.toml");
      writeFileSync(path, configText(["channels", "alpha", "beta"], [stdioUpstream("alpha"), stdioUpstream("beta", "hang")]));
      await using srv = await startServer({ args: ["--config", path, "--no-auth"], env: { RELOAD_MARK: "set" } });
      await using c = await session(srv);
      await until("alpha and beta listed", async () => (await c.servers()).length === 2 || undefined);
      const sessionId = c.transport.sessionId;
      const alphaPid = (await c.call("alpha_pid")).pid;
      const before = c.changes();

      // beta hangs on every call (call_timeout_seconds 60): only the reload can end this one.
      const inFlight = c.raw("beta_echo", { text: "never answered" });
      await Bun.sleep(300);
      const saved = performance.now();
      save(path, configText(["channels", "alpha", "gamma"], [stdioUpstream("alpha"), stdioUpstream("gamma", "echo", { env: ["RELOAD_MARK"] })], "max_message_bytes = 1000"));

      const ended = await inFlight;
      expect(performance.now() - saved).toBeLessThan(10_000);
      expect(ended.isError).toBe(true);
      // Text only: beta_echo declares an output schema, which the SDK client checks any structured content against.
      expect(ended.structuredContent).toBeUndefined();
      expect((ended.content[0] as { text: string }).text).toStartWith('UPSTREAM_UNAVAILABLE: Upstream "beta" was stopped during the call');

      await until("gamma listed, beta gone", async () => {
        return (await c.servers()).join() === "alpha,gamma" || undefined;
      });
      // Told twice at least: beta's tools went, gamma's came.
      await until("list_changed for beta and gamma", () => c.changes() - before >= 2 || undefined);
      expect(c.transport.sessionId).toBe(sessionId);
      expect((await c.call("alpha_pid")).pid).toBe(alphaPid);
      expect((await c.call("gamma_echo", { text: "new" })).server).toBe("gamma");
      // The server's environment reaches the upstreams (only the names their config lists).
      expect((await c.call("gamma_env")).names).toContain("RELOAD_MARK");
      // Its tools are unknown now: a protocol error, as for any unknown tool.
      await expect(c.raw("beta_echo", { text: "x" })).rejects.toThrow("Tool beta_echo not found");
      // A key that is not applied live is said so, and keeps its value.
      await logged(srv, /config reloaded: changed keys need a restart.*max_message_bytes/);
      await logged(srv, /config reloaded .*added=gamma.*removed=beta/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("SIGHUP reloads (a config the watcher cannot see change); an invalid config is logged and the running one kept; only sessions granted an affected server are told", async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-reload-"));
    try {
      // A symlink to a file elsewhere (as a mounted ConfigMap is): writes to its target are not
      // events of the watched directory, so only SIGHUP picks them up.
      const target = join(dir, "real");
      const links = join(dir, "etc");
      const path = join(links, "parley.toml");
      mkdirSync(target);
      mkdirSync(links);
      writeFileSync(join(target, "parley.toml"), configText(["channels"], [stdioUpstream("alpha"), stdioUpstream("beta")]));
      symlinkSync(join(target, "parley.toml"), path);
      await using srv = await startServer({ args: ["--config", path] });
      const issue = async (servers: string) => {
        const r = await parley(["token", "issue", "--agent", `a-${servers.replace(",", "-")}`, "--servers", servers, "--data", srv.dataDir, "--port", String(srv.port), "--config", path]);
        expect(r.code).toBe(0);
        return r.out.trim();
      };
      await using both = await session(srv, await issue("alpha,beta"));
      await using alphaOnly = await session(srv, await issue("alpha"));
      await until("alpha and beta up", async () => (await both.servers()).join() === "alpha,beta" || undefined);
      const alphaPid = (await alphaOnly.call("alpha_pid")).pid;
      const sessionId = both.transport.sessionId;

      writeFileSync(join(target, "parley.toml"), configText(["channels"], [stdioUpstream("alpha"), { name: "Bad_Name", command: ["x"] }]));
      srv.proc.kill("SIGHUP");
      await logged(srv, /config reload refused; the running config is kept.*why=SIGHUP.*upstream\[1\]\.name/);
      expect((await both.servers()).join()).toBe("alpha,beta");
      expect(await both.call("beta_echo", { text: "still" })).toMatchObject({ text: "still" });

      const [bothBefore, alphaBefore] = [both.changes(), alphaOnly.changes()];
      writeFileSync(join(target, "parley.toml"), configText(["channels"], [stdioUpstream("alpha")]));
      srv.proc.kill("SIGHUP");
      await until("beta gone", async () => (await both.servers()).join() === "alpha" || undefined);
      await until("list_changed for the session granted beta", () => both.changes() > bothBefore || undefined);
      // The other session's grant names alpha only: a round trip after, it has heard nothing.
      await alphaOnly.client.ping();
      expect(alphaOnly.changes()).toBe(alphaBefore);
      expect(both.transport.sessionId).toBe(sessionId);
      expect((await alphaOnly.call("alpha_pid")).pid).toBe(alphaPid);
      expect(srv.proc.exitCode).toBeNull();
      await logged(srv, /reloading the config why=SIGHUP/);

      // What the running server serves follows the reload: a token for an upstream added since is accepted.
      writeFileSync(join(target, "parley.toml"), configText(["channels"], [stdioUpstream("alpha"), stdioUpstream("gamma")]));
      srv.proc.kill("SIGHUP");
      await until("gamma listed", async () => (await both.servers()).join() === "alpha" && /added=gamma/.test(srv.stderr()) || undefined);
      await using gammaOnly = await session(srv, await issue("gamma"));
      await until("gamma up", async () => (await gammaOnly.servers()).join() === "gamma" || undefined);
      expect((await gammaOnly.call("gamma_echo", { text: "hello" })).server).toBe("gamma");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
