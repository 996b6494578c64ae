import { afterEach, describe, expect, test } from "bun:test";
import { NO_HOOKS, type CallRecord, type GatewayHooks } from "../../../src/gateway/index.ts";
import { captureLog } from "../../helpers/log-capture.ts";
import { appFailure, gatewayCaller, httpFixture, stdioUpstream, upstreamState, upstreamsUp, whenGateway, testGateway, stopGateways } from "../../helpers/upstreams.ts";

/**
 * The gateway attacked: by an upstream that is hostile or broken (it must never take Parley down,
 * fill its memory or stall other callers and upstreams), and by a caller with a grant for one
 * upstream (it must reach nothing else and make Parley hold nothing unbounded).
 */
const ENV = { PATH: process.env.PATH };

const gateway = (upstreams: Record<string, unknown>[], hooks?: GatewayHooks) => testGateway(upstreams, { env: ENV, reserved: ["create_channel"], ...(hooks ? { hooks } : {}) });

afterEach(stopGateways);

/** JSON nested `depth` deep: parses, but JSON.stringify of it overflows the stack. */
const nested = (depth: number) => JSON.parse('{"a":'.repeat(depth) + "1" + "}".repeat(depth)) as Record<string, unknown>;

/** Hooks that keep every call's audit record. */
function recording(): { hooks: GatewayHooks; records: CallRecord[] } {
  const records: CallRecord[] = [];
  return { records, hooks: { ...NO_HOOKS, recordCall: (r) => void records.push(r) } };
}

const settledWithin = <T>(promises: Promise<T>[], ms: number) => {
  const outcomes: (PromiseSettledResult<T> | undefined)[] = promises.map(() => undefined);
  promises.forEach((p, i) =>
    p.then(
      (value) => (outcomes[i] = { status: "fulfilled", value }),
      (reason) => (outcomes[i] = { status: "rejected", reason }),
    ),
  );
  return Bun.sleep(ms).then(() => outcomes);
};

describe("Gateway attacked by a caller", () => {
  test("thousands of calls to a hanging upstream: past max_calls_in_flight each is RATE_LIMITED at once, other upstreams unaffected", async () => {
    const g = gateway([stdioUpstream("stuck", "hang"), stdioUpstream("steady")]);
    await upstreamsUp(g, "stuck", "steady");
    const callers = Array.from({ length: 4 }, (_, i) => ({ subject: `agent:a${i}`, grant: ["stuck", "steady"] }));
    const me = callers[0]!;
    const calls = Array.from({ length: 2_000 }, (_, i) => g.call(callers[i % 4]!, "stuck_echo", { text: `call ${i}` }));
    const outcomes = await settledWithin(calls, 1_000);
    // The default bound: 256 waiting, every other one refused with a stable code, none left pending.
    expect(outcomes.filter((o) => o === undefined)).toHaveLength(256);
    const refused = outcomes.filter((o) => o?.status === "rejected").map((o) => (o as PromiseRejectedResult).reason);
    expect(refused).toHaveLength(2_000 - 256);
    expect(refused[0]).toMatchObject({ code: "RATE_LIMITED", message: expect.stringContaining("max_calls_in_flight") });
    expect(await g.call(me, "steady_echo", { text: "still here" })).toMatchObject({ content: [{ text: "still here" }] });
    await g.stop();
    await Promise.allSettled(calls);
  }, 20_000);

  test("name tricks reach nothing outside the grant: a longer server name, a neighbour tool, case, look-alike characters, resources and prompts", async () => {
    const g = gateway([stdioUpstream("battle"), stdioUpstream("battle-x")]);
    await upstreamsUp(g, "battle", "battle-x");
    const server = gatewayCaller("battle");
    const oneTool = gatewayCaller("battle_echo");
    expect((await appFailure(g.call(server, "battle-x_echo", { text: "x" }))).code).toBe("FORBIDDEN");
    expect(g.listTools(["battle"]).some((t) => t.name.startsWith("battle-x"))).toBe(false);
    expect((await appFailure(g.call(oneTool, "battle_env", {}))).code).toBe("FORBIDDEN");
    expect(g.listTools(["battle_echo"]).map((t) => t.name)).toEqual(["battle_echo"]);
    // Not the gateway's at all (the channel tools' "not found"), or a tool the upstream does not have.
    expect(g.serves("Battle_echo") || g.serves("battle\uFF3Fecho")).toBe(false);
    for (const name of ["battle_echo\u200B", "battle_", "battle_ECHO"]) expect((await appFailure(g.call(server, name, {}))).code).toBe("INVALID_REQUEST");
    // Resources need the whole server; a prompt named like a granted tool is the prompt's own grant.
    expect(g.listResources(["battle_echo"])).toEqual([]);
    expect((await appFailure(g.readResource(oneTool, "fx://readme"))).code).toBe("FORBIDDEN");
    expect((await appFailure(g.getPrompt(oneTool, "battle_greet", { who: "x" }))).code).toBe("FORBIDDEN");
    expect((await appFailure(g.getPrompt(server, "battle-x_greet", { who: "x" }))).code).toBe("FORBIDDEN");
  }, 20_000);

  test("arguments nested too deep to serialize: INVALID_REQUEST and audited, the upstream not restarted", async () => {
    const { hooks, records } = recording();
    const g = gateway([stdioUpstream("target")], hooks);
    await upstreamsUp(g, "target");
    const me = gatewayCaller("target");
    const pid = upstreamState(g, "target")!.pid;
    const err = await appFailure(g.call(me, "target_echo", nested(200_000)));
    // Before: a RangeError sending it, taken for a broken connection: the upstream restarted for every caller.
    expect(err).toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("nested") });
    expect(records.at(-1)).toMatchObject({ tool: "target_echo", outcome: "INVALID_REQUEST" });
    expect(await g.call(me, "target_echo", { text: "same" })).toMatchObject({ content: [{ text: "same" }] });
    expect(upstreamState(g, "target")).toMatchObject({ state: "up", restarts: 0, pid });
  }, 20_000);

  test("a 1 MiB resource URI or prompt name: the audit row keeps a few hundred characters of it (audit_max_rows bounds rows, not their size)", async () => {
    const { hooks, records } = recording();
    const g = gateway([stdioUpstream("fx")], hooks);
    await upstreamsUp(g, "fx");
    const stranger = gatewayCaller("nothing");
    const huge = "x".repeat(1024 * 1024);
    expect((await appFailure(g.readResource(stranger, `fx://items/${huge}`))).code).toBe("FORBIDDEN");
    expect((await appFailure(g.getPrompt(stranger, `fx_${huge}`, undefined))).code).toBe("FORBIDDEN");
    await Bun.sleep(10);
    // Before: each row held the whole 1 MiB: a million rows of it, a terabyte of audit log.
    expect(records).toHaveLength(2);
    for (const r of records) expect(r.tool.length + r.upstreamTool.length).toBeLessThan(1_200);
    expect(records[0]!.tool).toStartWith("fx://items/xxx");
  }, 20_000);

  test("max_calls_in_flight is per upstream, one caller holds at most half of it, a slot frees when its call ends", async () => {
    const g = gateway([stdioUpstream("small", "echo", { max_calls_in_flight: 4 }), stdioUpstream("other")]);
    await upstreamsUp(g, "small", "other");
    const hog = { subject: "agent:hog", grant: ["small", "other"] };
    const polite = { subject: "agent:polite", grant: ["small"] };
    const slow = (who: typeof hog) => g.call(who, "small_slow", { ms: 300, steps: 1 });
    const held = [slow(hog), slow(hog)];
    // Before: the hog took all four slots and the polite caller got none.
    const third = await appFailure(slow(hog));
    expect(third).toMatchObject({ code: "RATE_LIMITED", message: expect.stringContaining("half of its max_calls_in_flight") });
    expect(await g.call(hog, "other_echo", { text: "elsewhere" })).toMatchObject({ content: [{ text: "elsewhere" }] });
    held.push(slow(polite), slow(polite));
    expect((await appFailure(g.call(polite, "small_echo", { text: "fifth" }))).code).toBe("RATE_LIMITED");
    await Promise.all(held);
    expect(await g.call(hog, "small_echo", { text: "after" })).toMatchObject({ content: [{ text: "after" }] });
  }, 20_000);
});

describe("Gateway attacked by an upstream", () => {
  test("an upstream whose resource template also matches another's URIs does not capture that other's reads", async () => {
    // Both list the template fx://items/{id}; the first in the config used to take every read of it.
    const g = gateway([stdioUpstream("grabby"), stdioUpstream("owner")]);
    await upstreamsUp(g, "grabby", "owner");
    const read = await g.readResource(gatewayCaller("owner"), "fx://items/42");
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toEqual({ id: "42", server: "owner" });
    expect((await appFailure(g.readResource(gatewayCaller("nobody"), "fx://items/42"))).code).toBe("FORBIDDEN");
  }, 20_000);

  test("a flood of notifications/tools/list_changed costs a few tools/list, not one each", async () => {
    const g = gateway([stdioUpstream("noisy")]);
    await upstreamsUp(g, "noisy");
    const me = gatewayCaller("noisy");
    await g.call(me, "noisy_list_flood", { count: 500 });
    await Bun.sleep(1_000);
    const lists = (await g.call(me, "noisy_lists", {})).structuredContent as { lists: number };
    // Before: 501 (the first listing and one per notification, all at once).
    expect(lists.lists).toBeLessThan(10);
  }, 20_000);

  test("an upstream whose tools change without pause: its callers hear of it about once a second, not at every change", async () => {
    const g = gateway([stdioUpstream("flappy")]);
    await upstreamsUp(g, "flappy");
    let told = 0;
    g.onChange((server) => server === "flappy" && told++);
    await g.call(gatewayCaller("flappy"), "flappy_flap", { count: 200, ms: 10 });
    await Bun.sleep(1_500);
    // Before: one list_changed to every session per change that a listing caught (~100 in these 2 s).
    expect(told).toBeLessThan(10);
    expect(g.listTools(["flappy"]).some((t) => t.name === "flappy_flapper")).toBe(false);
  }, 20_000);

  test("a result nested too deep to serialize: UPSTREAM_UNAVAILABLE, and the call is still audited", async () => {
    const { hooks, records } = recording();
    const g = gateway([stdioUpstream("deep")], hooks);
    await upstreamsUp(g, "deep");
    const err = await appFailure(g.call(gatewayCaller("deep"), "deep_deep", { depth: 200_000 }));
    // Before: a RangeError (INTERNAL_ERROR to the caller) and no audit record at all.
    expect(err).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", message: expect.stringContaining("nested") });
    await Bun.sleep(10);
    expect(records.at(-1)).toMatchObject({ tool: "deep_deep", outcome: "UPSTREAM_UNAVAILABLE" });
  }, 20_000);

  test("an upstream failing with a 1 MiB error message: status, the log and every refused call get a few hundred characters of it", async () => {
    using captured = captureLog("info");
    const g = gateway([stdioUpstream("verbose", "listerror")]);
    await whenGateway(g, () => upstreamState(g, "verbose")?.state === "down", 10_000, "verbose down");
    const status = upstreamState(g, "verbose")!;
    // Before: the whole 1 MiB, in status, in the log line and in each call's error.
    expect(status.error).toContain("no tools today");
    expect(status.error!.length).toBeLessThan(1_000);
    const err = await appFailure(g.call(gatewayCaller("verbose"), "verbose_echo", { text: "x" }));
    expect(err.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(err.message.length).toBeLessThan(1_200);
    const down = captured.entries().find((e) => e.msg === "upstream down");
    expect(String(down?.reason).length).toBeLessThan(1_000);
  }, 20_000);

  test("a tools/list paged slowly (each page within the timeout, all of them not): down after start_timeout_seconds", async () => {
    const g = gateway([stdioUpstream("dawdle", "slowpages", { start_timeout_seconds: 1 })]);
    // Before: up after ten pages of 400 ms, 4 s into a start bounded at 1 s.
    await whenGateway(g, () => upstreamState(g, "dawdle")?.state !== "starting", 10_000, "dawdle started or failed");
    expect(upstreamState(g, "dawdle")).toMatchObject({ state: "down", error: expect.stringContaining("within 1 s") });
  }, 20_000);

  test("a tools/list of 80 MiB over 40 pages: the upstream is down with the cap named, its neighbour up", async () => {
    const g = gateway([stdioUpstream("hoard", "hugelist"), stdioUpstream("steady")]);
    await upstreamsUp(g, "steady");
    await whenGateway(g, () => upstreamState(g, "hoard")?.state === "down", 20_000, "hoard down");
    expect(upstreamState(g, "hoard")!.error).toContain("16 MiB");
    expect(g.listTools(["hoard", "steady"]).every((t) => t.name.startsWith("steady_"))).toBe(true);
  }, 30_000);

  test("a flood of progress notifications reaches the caller rate-limited", async () => {
    const g = gateway([stdioUpstream("chatty")]);
    await upstreamsUp(g, "chatty");
    const seen: number[] = [];
    await g.call(gatewayCaller("chatty"), "chatty_progress_flood", { count: 20_000 }, { onprogress: (p) => seen.push(p.progress) });
    // Before: all 20,000 handed on.
    expect(seen.length).toBeLessThan(1_000);
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
  }, 30_000);

  test("an upstream that sends Parley requests, a response to an id never sent and an unknown notification: each request refused, calls still answered", async () => {
    const g = gateway([stdioUpstream("rogue", "rogue"), stdioUpstream("steady")]);
    await upstreamsUp(g, "rogue", "steady");
    const me = gatewayCaller("rogue", "steady");
    for (let i = 0; i < 3; i++) expect(await g.call(me, "rogue_echo", { text: `still ${i}` })).toMatchObject({ content: [{ text: `still ${i}` }] });
    const { answers } = (await g.call(me, "rogue_rogue_answers", {})).structuredContent as { answers: { id: string; error?: { code: number } }[] };
    expect(answers).toHaveLength(9);
    for (const answer of answers) expect(answer.error?.code).toBe(-32601);
    expect(g.status().find((u) => u.name === "rogue")).toMatchObject({ state: "up", restarts: 0 });
    expect(await g.call(me, "steady_echo", { text: "fine" })).toMatchObject({ content: [{ text: "fine" }] });
  }, 20_000);

  test.each(["echo", "json"])("an HTTP upstream answering 20 MB (mode %s): UPSTREAM_UNAVAILABLE naming the cap, the upstream still serves", async (mode) => {
    await using fx = await httpFixture("fat", mode);
    const g = gateway([{ name: "fat", url: fx.url }]);
    await upstreamsUp(g, "fat");
    const me = gatewayCaller("fat");
    const err = await appFailure(g.call(me, "fat_big", { bytes: 20 * 1024 * 1024 }));
    expect(err).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", message: expect.stringContaining("16 MiB") });
    expect(await g.call(me, "fat_echo", { text: "small" })).toMatchObject({ content: [{ text: "small" }] });
    // Under the cap passes whole.
    const big = await g.call(me, "fat_big", { bytes: 1024 * 1024 });
    expect((big.content[0] as { text: string }).text).toHaveLength(1024 * 1024);
  }, 30_000);
});
