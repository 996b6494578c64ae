import { afterEach, describe, expect, test } from "bun:test";
import { Gateway, type CallRecord, type GatewayOptions } from "../../../src/gateway/index.ts";
import { captureLog } from "../../helpers/log-capture.ts";
import { alive, appFailure, gatewayCaller, gone, httpFixture, stdioUpstream, upstreamConfigs, upstreamState, upstreamsUp, whenGateway, testGateway, stopGateways } from "../../helpers/upstreams.ts";

const ENV = { PATH: process.env.PATH, HOME: "/home/nobody", SECRET_TOKEN: "s3cret", FIXTURE_ALLOWED: "yes" };

const gateway = (upstreams: Record<string, unknown>[], options: Partial<GatewayOptions> = {}) => testGateway(upstreams, { env: ENV, reserved: ["create_channel"], ...options });

const state = (g: Gateway, name: string) => upstreamState(g, name)!;

afterEach(stopGateways);

describe("Gateway: aggregation", () => {
  test("a stdio upstream counts as up after tools/list; its tools are SERVER_TOOL with definitions passed through", async () => {
    using captured = captureLog("info");
    const g = gateway([stdioUpstream("alpha")]);
    expect(state(g, "alpha").state).toBe("starting");
    expect(g.listTools(["alpha"])).toEqual([]);
    await upstreamsUp(g, "alpha");
    const tools = g.listTools(["alpha"]);
    const names = tools.map((t) => t.name);
    expect(names).toContain("alpha_echo");
    expect(names).not.toContain("alpha_bad.name");
    const echo = tools.find((t) => t.name === "alpha_echo")!;
    expect(echo).toMatchObject({ title: "Echo", description: "Echoes text back (alpha)", annotations: { readOnlyHint: true, openWorldHint: false } });
    expect(echo.inputSchema.properties).toHaveProperty("text");
    expect(echo.outputSchema?.properties).toHaveProperty("server");

    // Too long: cut with a stable hash; other characters: skipped. Both in status and the log.
    const long = names.find((n) => n.startsWith("alpha_a_tool_whose"))!;
    expect(long).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(long).toMatch(/_[0-9a-f]{8}$/);
    const status = state(g, "alpha");
    expect(status.skipped).toEqual([{ tool: "bad.name", reason: "characters outside A-Za-z0-9_-" }]);
    expect(status.shortened).toEqual([{ tool: expect.stringMatching(/^a_tool_whose/), name: long }]);
    expect(status.tools).toBe(tools.length);
    expect(captured.entries()).toContainEqual(expect.objectContaining({ msg: "upstream tool skipped", server: "alpha", tool: "bad.name" }));
    expect(captured.entries()).toContainEqual(expect.objectContaining({ msg: "upstream tool renamed", server: "alpha", name: long }));

    const result = await g.call(gatewayCaller("alpha"), "alpha_echo", { text: "hi" });
    expect(result).toMatchObject({ content: [{ type: "text", text: "hi" }], structuredContent: { text: "hi", server: "alpha" } });
    expect(result.isError).toBeUndefined();
    const failed = await g.call(gatewayCaller("alpha"), "alpha_fail", {});
    expect(failed).toMatchObject({ isError: true, content: [{ type: "text", text: "it failed on purpose" }] });
    expect(await g.call(gatewayCaller("alpha"), long, {})).toMatchObject({ content: [{ text: "long" }] });
  });

  test("the same long tool name is shortened the same way by another gateway (a grant naming it keeps working)", async () => {
    const a = gateway([stdioUpstream("alpha")]);
    const b = gateway([stdioUpstream("alpha")]);
    await Promise.all([upstreamsUp(a, "alpha"), upstreamsUp(b, "alpha")]);
    expect(state(a, "alpha").shortened).toEqual(state(b, "alpha").shortened);
  });

  test("a tool that would take a built-in tool's name is skipped", async () => {
    const g = gateway([stdioUpstream("create")], { reserved: ["create_channel", "create_echo"] });
    await upstreamsUp(g, "create");
    expect(g.listTools(["create"]).map((t) => t.name)).not.toContain("create_echo");
    expect(state(g, "create").skipped).toContainEqual({ tool: "echo", reason: "create_echo is a built-in tool" });
  });

  test("notifications/tools/list_changed from an upstream: listed again, listeners told", async () => {
    const g = gateway([stdioUpstream("alpha")]);
    await upstreamsUp(g, "alpha");
    const changes: string[] = [];
    g.onChange((s) => changes.push(s));
    await g.call(gatewayCaller("alpha"), "alpha_add_tool", {});
    await whenGateway(g, () => g.listTools(["alpha"]).some((t) => t.name === "alpha_extra"), 10_000, "alpha_extra listed");
    expect(changes).toContain("alpha");
  });

  test("progress notifications and cancellation pass through", async () => {
    using captured = captureLog("info");
    const g = gateway([stdioUpstream("alpha")]);
    await upstreamsUp(g, "alpha");
    const progress: unknown[] = [];
    const done = await g.call(gatewayCaller("alpha"), "alpha_slow", { ms: 90, steps: 3 }, { onprogress: (p) => progress.push(p) });
    expect(done.content).toEqual([{ type: "text", text: "done" }]);
    expect(progress).toEqual([1, 2, 3].map((i) => ({ progress: i, total: 3, message: `step ${i}` })));

    const abort = new AbortController();
    const call = g.call(gatewayCaller("alpha"), "alpha_slow", { ms: 30_000, steps: 1 }, { signal: abort.signal });
    setTimeout(() => abort.abort("the client cancelled"), 200);
    expect((await appFailure(call)).code).toBe("UPSTREAM_UNAVAILABLE");
    // The upstream got notifications/cancelled: its handler's signal fired (its stderr line is in our log).
    await whenGateway(g, () => captured.entries().some((e) => e.msg === "upstream stderr" && e.line === "alpha: cancelled"), 5_000, "cancelled upstream");
    expect(state(g, "alpha").state).toBe("up");
  });
});

describe("Gateway: grants", () => {
  test("a grant names whole servers or single tools; anything else is FORBIDDEN, listed or not", async () => {
    const records: CallRecord[] = [];
    const g = gateway([stdioUpstream("alpha"), stdioUpstream("beta")], { hooks: { reviewTools: () => new Map(), recordCall: (r) => void records.push(r) } });
    await upstreamsUp(g, "alpha", "beta");
    expect(g.listTools(["alpha"]).every((t) => t.name.startsWith("alpha_"))).toBe(true);
    expect(g.listTools(["beta_echo"]).map((t) => t.name)).toEqual(["beta_echo"]);
    expect(g.listTools(["channels"])).toEqual([]);

    const forbidden = await appFailure(g.call(gatewayCaller("beta_echo"), "beta_env", {}));
    expect(forbidden.code).toBe("FORBIDDEN");
    expect(forbidden.message).toContain('"beta_env" is outside your grant');
    expect((await appFailure(g.call(gatewayCaller("alpha"), "beta_echo", { text: "x" }))).code).toBe("FORBIDDEN");
    // A tool that does not exist, of a server outside the grant: FORBIDDEN too (not "unknown tool").
    expect((await appFailure(g.call(gatewayCaller("alpha"), "beta_nothing", {}))).code).toBe("FORBIDDEN");
    expect((await appFailure(g.call(gatewayCaller("alpha"), "alpha_nothing", {}))).code).toBe("INVALID_REQUEST");
    expect((await g.call(gatewayCaller("beta_echo"), "beta_echo", { text: "one tool" })).structuredContent).toEqual({ text: "one tool", server: "beta" });

    // The audit hook saw every call routed to the gateway, never an argument value.
    expect(records.map((r) => [r.tool, r.outcome])).toEqual([
      ["beta_env", "FORBIDDEN"],
      ["beta_echo", "FORBIDDEN"],
      ["beta_nothing", "FORBIDDEN"],
      ["alpha_nothing", "INVALID_REQUEST"],
      ["beta_echo", "ok"],
    ]);
    expect(records.at(-1)).toMatchObject({ caller: "agent:test", server: "beta", upstreamTool: "echo", argBytes: JSON.stringify({ text: "one tool" }).length });
    expect(records.at(-1)!.resultBytes).toBeGreaterThan(0);
    expect(JSON.stringify(records)).not.toContain("one tool");
  });

  test("the pin hook holds a tool back: not listed, calls refused with its reason", async () => {
    const g = gateway([stdioUpstream("alpha")], { hooks: { reviewTools: () => new Map([["echo", "its description changed"]]), recordCall: () => {} } });
    await upstreamsUp(g, "alpha");
    expect(g.listTools(["alpha"]).map((t) => t.name)).not.toContain("alpha_echo");
    expect(state(g, "alpha").held).toEqual([{ tool: "alpha_echo", reason: "its description changed" }]);
    const held = await appFailure(g.call(gatewayCaller("alpha"), "alpha_echo", { text: "x" }));
    expect(held.message).toBe('Tool "alpha_echo" is held back: its description changed');
  });
});

describe("Gateway: the supervisor (real child processes)", () => {
  test("a stdio upstream sees only the environment variables its config names", async () => {
    const g = gateway([stdioUpstream("alpha", "echo", { env: ["FIXTURE_ALLOWED", "NOT_SET_ANYWHERE"] })]);
    await upstreamsUp(g, "alpha");
    const { structuredContent } = await g.call(gatewayCaller("alpha"), "alpha_env", {});
    expect(structuredContent).toEqual({ names: ["FIXTURE_ALLOWED"] });
  });

  test("an upstream that crashes on every call: UPSTREAM_UNAVAILABLE, restarted with backoff, the others unaffected", async () => {
    const g = gateway([stdioUpstream("crashy", "crash"), stdioUpstream("steady")]);
    await upstreamsUp(g, "crashy", "steady");
    const gone = await appFailure(g.call(gatewayCaller("crashy"), "crashy_echo", { text: "x" }));
    expect(gone.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(gone.message).toMatch(/went away during the call|cannot be reached/);
    await whenGateway(g, () => state(g, "crashy").state === "down", 5_000, "crashy down");
    const down = state(g, "crashy");
    expect(down.error).toBe("exited with code 1");
    expect(Date.parse(down.retry_at!) - Date.parse(down.since)).toBe(1_000);
    // Down hides its tools only; a call to it fails at once, saying when it retries.
    expect(g.listTools(["crashy", "steady"]).every((t) => t.name.startsWith("steady_"))).toBe(true);
    expect((await appFailure(g.call(gatewayCaller("crashy"), "crashy_echo", { text: "x" }))).message).toMatch(/^Upstream "crashy" is (down since .*retrying in \d+ s|starting)/);
    expect((await g.call(gatewayCaller("steady"), "steady_echo", { text: "fine" })).structuredContent).toMatchObject({ text: "fine" });

    // Back up after 1 s; the next crash waits 2 s (exponential, capped at restart_max_seconds).
    await upstreamsUp(g, "crashy");
    expect(state(g, "crashy").restarts).toBe(1);
    await appFailure(g.call(gatewayCaller("crashy"), "crashy_echo", { text: "x" }));
    await whenGateway(g, () => state(g, "crashy").state === "down", 5_000, "crashy down again");
    const again = state(g, "crashy");
    expect(Date.parse(again.retry_at!) - Date.parse(again.since)).toBe(2_000);
  });

  test("an upstream that hangs: the call times out with UPSTREAM_UNAVAILABLE, other upstreams answer meanwhile", async () => {
    const g = gateway([stdioUpstream("stuck", "hang", { call_timeout_seconds: 1 }), stdioUpstream("steady")]);
    await upstreamsUp(g, "stuck", "steady");
    const started = performance.now();
    const hung = g.call(gatewayCaller("stuck"), "stuck_echo", { text: "x" });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => g.call(gatewayCaller("steady"), "steady_echo", { text: `n${i}` })));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(answers.map((a) => (a.structuredContent as { text: string }).text)).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`));
    const timedOut = await appFailure(hung);
    expect(timedOut.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(timedOut.message).toBe('Upstream "stuck" did not answer within 1 s');
    // It still answers pings (only its tools hang), so it stays up.
    expect(state(g, "stuck").state).toBe("up");
  });

  test("an upstream whose process stops answering altogether is found by a ping and restarted", async () => {
    const g = gateway([stdioUpstream("frozen", "freeze", { call_timeout_seconds: 1 })]);
    await upstreamsUp(g, "frozen");
    const pid = state(g, "frozen").pid!;
    expect((await appFailure(g.call(gatewayCaller("frozen"), "frozen_echo", { text: "x" }))).code).toBe("UPSTREAM_UNAVAILABLE");
    await whenGateway(g, () => state(g, "frozen").restarts === 1 && state(g, "frozen").state === "up", 15_000, "frozen restarted");
    await gone(pid);
  });

  test("an upstream that prints garbage on stdout: lines skipped and logged, calls still work", async () => {
    using captured = captureLog("info");
    const g = gateway([stdioUpstream("noisy", "garbage")]);
    await upstreamsUp(g, "noisy");
    expect((await g.call(gatewayCaller("noisy"), "noisy_echo", { text: "through" })).structuredContent).toMatchObject({ text: "through" });
    const skipped = captured.entries().filter((e) => e.msg === "upstream wrote a line that is not JSON-RPC on stdout (skipped)");
    expect(skipped.map((e) => e.line)).toEqual(["garbage before the first message", "this is not JSON-RPC", '{"also": "not a message"}']);
    expect(skipped.every((e) => e.server === "noisy")).toBe(true);
  });

  test("an upstream that exits at start: down with the reason, its stderr logged under its name, retried", async () => {
    using captured = captureLog("info");
    const g = gateway([stdioUpstream("dead", "exit"), stdioUpstream("steady")]);
    await upstreamsUp(g, "steady");
    await whenGateway(g, () => state(g, "dead").restarts >= 1 && state(g, "dead").state === "down", 10_000, "dead retried");
    expect(state(g, "dead")).toMatchObject({ state: "down", error: "exited with code 3", tools: 0 });
    expect(g.degraded()).toBe(true);
    expect(captured.entries()).toContainEqual(expect.objectContaining({ msg: "upstream stderr", server: "dead", line: "dead: cannot start (fixture mode exit)" }));
    expect(captured.entries()).toContainEqual(expect.objectContaining({ msg: "upstream down", server: "dead", reason: "exited with code 3" }));
    expect(g.listTools(["dead", "steady"]).length).toBeGreaterThan(0);
  });

  test("a command that is not on PATH: down with the reason, no crash", async () => {
    const g = gateway([{ name: "missing", command: ["no-such-command-anywhere"] }]);
    await whenGateway(g, () => state(g, "missing").state === "down", 5_000, "missing down");
    expect(state(g, "missing").error).toBe('command "no-such-command-anywhere" not found on the server\'s PATH');
  });

  test("restart and stop kill the whole process group: a grandchild is never left behind", async () => {
    const g = gateway([stdioUpstream("forky", "fork")]);
    await upstreamsUp(g, "forky");
    const first = (await g.call(gatewayCaller("forky"), "forky_pid", {})).structuredContent as { pid: number; grandchild: number };
    expect(alive(first.grandchild)).toBe(true);
    // The leader dies alone (as in a crash): the restart takes its grandchild with it.
    process.kill(first.pid, "SIGKILL");
    await whenGateway(g, () => state(g, "forky").restarts === 1 && state(g, "forky").state === "up", 10_000, "forky restarted");
    await gone(first.grandchild);
    const second = (await g.call(gatewayCaller("forky"), "forky_pid", {})).structuredContent as { pid: number; grandchild: number };
    expect(alive(second.grandchild)).toBe(true);
    await g.stop();
    await gone(second.pid);
    await gone(second.grandchild);
  });
});

describe("Gateway: HTTP upstreams", () => {
  test("static headers with ${ENV} from the environment; nothing else of the caller is sent", async () => {
    await using fixture = await httpFixture("web");
    const g = gateway([{ name: "web", url: fixture.url, headers: { Authorization: "Bearer ${SECRET_TOKEN}", "X-Static": "plain" } }]);
    await upstreamsUp(g, "web");
    expect(state(g, "web").transport).toBe("http");
    const { structuredContent } = await g.call(gatewayCaller("web"), "web_headers", {});
    const headers = (structuredContent as { headers: Record<string, string> }).headers;
    expect(headers.authorization).toBe("Bearer s3cret");
    expect(headers["x-static"]).toBe("plain");
    expect((await g.call(gatewayCaller("web"), "web_echo", { text: "over http" })).structuredContent).toEqual({ text: "over http", server: "web" });
  });

  test("a header naming an environment variable that is not set stops the start", () => {
    expect(() => new Gateway(upstreamConfigs({ name: "web", url: "http://127.0.0.1:1/mcp", headers: { Authorization: "Bearer ${NOT_SET}" } }), { env: {}, version: "test" })).toThrow(
      'upstream "web": header Authorization names ${NOT_SET}, which is not set in the environment',
    );
  });

  test("an HTTP upstream that goes away: down, and back when it returns", async () => {
    const fixture = await httpFixture("web");
    const g = gateway([{ name: "web", url: fixture.url }]);
    await upstreamsUp(g, "web");
    await fixture[Symbol.asyncDispose]();
    const err = await appFailure(g.call(gatewayCaller("web"), "web_echo", { text: "x" }));
    expect(err.code).toBe("UPSTREAM_UNAVAILABLE");
    await whenGateway(g, () => state(g, "web").state === "down", 5_000, "web down");
    expect(g.listTools(["web"])).toEqual([]);
  });
});
