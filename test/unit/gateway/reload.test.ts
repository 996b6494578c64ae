import { afterEach, describe, expect, test } from "bun:test";
import { AppError } from "../../../src/errors.ts";
import { Gateway } from "../../../src/gateway/index.ts";
import { captureLog } from "../../helpers/log-capture.ts";
import { alive, appFailure, gatewayCaller, gone, httpFixture, stdioUpstream, upstreamConfigs, upstreamState, upstreamsUp, testGateway, stopGateways } from "../../helpers/upstreams.ts";

// Issue 11 item 6: a config reload adds, removes and restarts upstreams; the others keep running.
const ENV = { PATH: process.env.PATH, TOKEN_A: "a" };

const gateway = (...upstreams: Record<string, unknown>[]) => testGateway(upstreams, { env: ENV });

const state = (g: Gateway, name: string) => upstreamState(g, name)!;
const listed = (g: Gateway, ...grant: string[]) => g.listTools(grant).map((t) => t.name.split("_")[0]);


afterEach(stopGateways);

describe("Gateway.reconfigure", () => {
  test("unchanged upstreams keep their process; removed ones are stopped and their tools go; changed ones restart; new ones start", async () => {
    using captured = captureLog("info");
    const g = gateway(stdioUpstream("keep"), stdioUpstream("drop", "fork"), stdioUpstream("change"));
    await upstreamsUp(g, "keep", "drop", "change");
    const keepPid = state(g, "keep")!.pid!;
    const dropPid = state(g, "drop")!.pid!;
    const changePid = state(g, "change")!.pid!;
    const grandchild = (await g.call(gatewayCaller("drop"), "drop_pid", {})).structuredContent!.grandchild as number;
    expect(alive(grandchild)).toBe(true);
    const told: string[] = [];
    g.onChange((server) => told.push(server));

    const summary = await g.reconfigure(upstreamConfigs(stdioUpstream("keep"), stdioUpstream("change", "echo", { call_timeout_seconds: 5 }), stdioUpstream("fresh")));
    expect(summary).toEqual({ added: ["fresh"], removed: ["drop"], restarted: ["change"], unchanged: ["keep"] });
    // Resolved once the old processes have exited; their whole group was killed (the grandchild too: a signal takes a moment).
    expect(alive(dropPid)).toBe(false);
    expect(alive(changePid)).toBe(false);
    await gone(grandchild);
    expect(g.status().map((u) => u.name)).toEqual(["keep", "change", "fresh"]);
    expect(g.serves("drop_echo")).toBe(false);
    expect(listed(g, "keep", "drop", "change", "fresh")).not.toContain("drop");

    await upstreamsUp(g, "change", "fresh");
    expect(state(g, "keep")!.pid).toBe(keepPid);
    expect(state(g, "keep")!.restarts).toBe(0);
    expect(state(g, "change")!.pid).not.toBe(changePid);
    expect(new Set(listed(g, "keep", "drop", "change", "fresh"))).toEqual(new Set(["keep", "change", "fresh"]));
    expect(await g.call(gatewayCaller("fresh"), "fresh_echo", { text: "hi" })).toMatchObject({ structuredContent: { text: "hi", server: "fresh" } });
    // Each affected server once its tools changed for its callers: the removed, the changed (gone, then back), the new.
    expect(told.filter((s) => s === "drop")).toHaveLength(1);
    expect(told.filter((s) => s === "change").length).toBeGreaterThanOrEqual(2);
    expect(told).toContain("fresh");
    expect(told).not.toContain("keep");
    expect(captured.entries()).toContainEqual(expect.objectContaining({ msg: "upstream removed by a reload", server: "drop" }));
    expect(captured.entries()).toContainEqual(expect.objectContaining({ msg: "upstream config changed: restarting it", server: "change" }));
  });

  test("a reload that removes an upstream while a call to it is in flight: the call ends at once with UPSTREAM_UNAVAILABLE", async () => {
    const g = gateway(stdioUpstream("stuck", "hang"), stdioUpstream("steady"));
    await upstreamsUp(g, "stuck", "steady");
    const pid = state(g, "stuck")!.pid!;
    // call_timeout_seconds is 60: without the reload it would wait that long.
    const inFlight = appFailure(g.call(gatewayCaller("stuck"), "stuck_echo", { text: "x" }));
    await Bun.sleep(200);
    const started = performance.now();
    await g.reconfigure(upstreamConfigs(stdioUpstream("steady")));
    const err = await inFlight;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(err.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(err.message).toContain('Upstream "stuck" was stopped during the call');
    await gone(pid);
    // A caller still holding its old tools/list: the name is no longer the gateway's; calling it anyway is refused, not a crash.
    expect((await appFailure(g.call(gatewayCaller("stuck"), "stuck_echo", { text: "x" }))).message).toBe('Upstream "stuck" is no longer configured');
    expect(await g.call(gatewayCaller("steady"), "steady_echo", { text: "still here" })).toMatchObject({ structuredContent: { text: "still here" } });
  });

  test("an HTTP upstream is reconnected when its url changes, and dropped when removed", async () => {
    await using one = await httpFixture("web");
    await using two = await httpFixture("web");
    const g = gateway({ name: "web", url: one.url });
    await upstreamsUp(g, "web");
    expect((await g.call(gatewayCaller("web"), "web_pid", {})).structuredContent!.pid).toBe(one.pid);
    expect((await g.reconfigure(upstreamConfigs({ name: "web", url: two.url }))).restarted).toEqual(["web"]);
    await upstreamsUp(g, "web");
    expect((await g.call(gatewayCaller("web"), "web_pid", {})).structuredContent!.pid).toBe(two.pid);
    await g.reconfigure([]);
    expect(g.status()).toEqual([]);
    expect(g.listTools(["web"])).toEqual([]);
  });

  test("a new config naming an unset header variable changes nothing", async () => {
    const g = gateway(stdioUpstream("keep"));
    await upstreamsUp(g, "keep");
    const pid = state(g, "keep")!.pid;
    const bad = upstreamConfigs({ name: "web", url: "http://127.0.0.1:9/mcp", headers: { authorization: "Bearer ${NOT_SET}" } });
    let err: unknown;
    try {
      void g.reconfigure(bad);
    } catch (thrown) {
      err = thrown;
    }
    // Thrown at once, so the server can keep its settings as they are.
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("INVALID_REQUEST");
    expect((err as AppError).message).toContain("NOT_SET");
    expect(g.status().map((u) => [u.name, u.state, u.pid])).toEqual([["keep", "up", pid]]);
  });

  test("reloads in quick succession: an upstream removed and added back runs once, after the old process is gone", async () => {
    const g = gateway(stdioUpstream("flip"));
    await upstreamsUp(g, "flip");
    const first = state(g, "flip")!.pid!;
    const removing = g.reconfigure([]);
    const adding = g.reconfigure(upstreamConfigs(stdioUpstream("flip")));
    expect((await adding).added).toEqual(["flip"]);
    await removing;
    expect(alive(first)).toBe(false);
    await upstreamsUp(g, "flip");
    expect(state(g, "flip")!.pid).not.toBe(first);
    expect(g.status()).toHaveLength(1);
  });

  test("a reload before start only records the upstreams; start starts them", async () => {
    const g = testGateway([stdioUpstream("later")], { env: ENV }, false);
    await g.reconfigure(upstreamConfigs(stdioUpstream("later"), stdioUpstream("also")));
    expect(g.status().map((u) => [u.name, u.pid])).toEqual([
      ["later", null],
      ["also", null],
    ]);
    g.start();
    await upstreamsUp(g, "later", "also");
  });
});
