import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { AppError } from "../../../src/errors.ts";
import { createBotRunner, type BotRunner, type BotRunnerOptions, type HookCall, type HookResult } from "../../../src/sandbox/index.ts";

const BOTS = resolve(import.meta.dir, "../../../bots");
const ECHO = readFileSync(resolve(BOTS, "echo.js"), "utf8");
const DICE = readFileSync(resolve(BOTS, "dice.js"), "utf8");
const SEED_A = "a1".repeat(32);
const SEED_B = "b2".repeat(32);
const SLOTS = [
  { slot_id: "s0", label: "invite:alice", kind: "invite", filled: true },
  { slot_id: "s1", label: "invite:bob", kind: "invite", filled: true },
];
const T0 = "2025-03-01T12:00:00.000Z";

const open: BotRunner[] = [];
afterEach(() => {
  for (const r of open.splice(0)) r.dispose();
});
async function start(options: Partial<BotRunnerOptions> & { code: string }): Promise<BotRunner> {
  const runner = await createBotRunner({ botId: "b1", seed: SEED_A, slots: SLOTS, ...options });
  open.push(runner);
  return runner;
}

const user = (sender: string, text: string, id = 1) => ({ id, kind: "user", sender, body: { text }, ts: T0, to_slot: null });

/** A game's worth of hooks, as channels will send them. */
const SCRIPT: HookCall[] = [
  { hook: "onInit", now: T0 },
  { hook: "onJoin", now: T0, slotId: "s0" },
  { hook: "onMessage", now: T0, msg: user("s0", "!roll 3d6") },
  { hook: "onMessage", now: "2025-03-01T12:00:05.000Z", msg: user("s1", "!roll d20", 2) },
  { hook: "onPrivateMessage", now: T0, slotId: "s1", msg: user("s1", "!roll 2d100", 3) },
  { hook: "onMessage", now: T0, msg: user("s0", "!roll 99d6", 4) },
  { hook: "onMessage", now: T0, msg: user("s0", "hello", 5) },
];

async function play(runner: BotRunner, calls = SCRIPT): Promise<HookResult[]> {
  const results: HookResult[] = [];
  for (const call of calls) results.push(await runner.runHook(call));
  return results;
}
/** What a replay must reproduce byte for byte: outputs, state and verdicts, not timings. */
const record = (results: HookResult[]) =>
  JSON.stringify(results.map((r) => ({ seq: r.seq, outputs: r.outputs, state: r.state, error: r.error?.message, reason: r.error?.detail?.reason, polls: r.polls })));

describe("createBotRunner() with the presets", () => {
  test("EchoBot greets, echoes publicly and privately, and counts in its state", async () => {
    const echo = await start({ code: ECHO });
    expect(echo.manifest).toMatchObject({ name: "EchoBot", version: "1.0.0" });
    const [init, join, pub, priv] = await play(echo, [
      { hook: "onInit", now: T0 },
      { hook: "onJoin", now: T0, slotId: "s1" },
      { hook: "onMessage", now: T0, msg: user("s0", "hi there") },
      { hook: "onPrivateMessage", now: T0, slotId: "s1", msg: user("s1", "psst") },
    ]);
    expect(init!.outputs).toEqual([{ kind: "bot", body: { text: "Echo ready" }, to_slot: null }]);
    expect(join!.outputs).toEqual([{ kind: "bot", body: { text: "Welcome, s1" }, to_slot: null }]);
    expect(pub!.outputs).toEqual([{ kind: "bot", body: { echo: "hi there", from: "s0", n: 1 }, to_slot: null }]);
    expect(priv!.outputs).toEqual([{ kind: "bot", body: { echo: "psst", n: 2 }, to_slot: "s1" }]);
    expect(priv!.state).toEqual({ n: 2 });
    expect([init, join, pub, priv].map((r) => r!.seq)).toEqual([1, 2, 3, 4]);
  });

  test("DiceBot with one seed rolls identically twice; another seed rolls differently", async () => {
    const first = await play(await start({ code: DICE }));
    const again = await play(await start({ code: DICE }));
    const other = await play(await start({ code: DICE, seed: SEED_B }));
    expect(record(again)).toBe(record(first));
    expect(record(other)).not.toBe(record(first));

    const roll = first[2]!.outputs[0]!;
    expect(roll).toMatchObject({ kind: "bot", to_slot: null, body: { roll: "3d6", by: "s0", n: 1 } });
    const dice = roll.body.dice as number[];
    expect(dice).toHaveLength(3);
    expect(dice.every((d) => Number.isInteger(d) && d >= 1 && d <= 6)).toBe(true);
    expect(roll.body.total).toBe(dice.reduce((a, b) => a + b, 0));
    expect(first[4]!.outputs[0]).toMatchObject({ to_slot: "s1", body: { roll: "2d100", by: "s1" } });
    expect(first[5]!.outputs[0]!.body).toHaveProperty("error");
    expect(first[6]!.outputs).toEqual([]);
    expect(first.every((r) => r.error === undefined)).toBe(true);
  });

  test("presets export a valid manifest with rules for an AI reader", async () => {
    for (const code of [ECHO, DICE]) {
      const runner = await start({ code });
      expect(runner.manifest?.rules?.length).toBeGreaterThan(20);
      expect(code.trimStart().startsWith("/**")).toBe(true); // header comment = rules
    }
  });
});

describe("determinism", () => {
  const PROBE = `
    let calls = 0;
    export default {
      onMessage(ctx, msg) {
        calls++;
        const s = ctx.getState() ?? { log: [] };
        s.log.push(ctx.randomInt(0, 1e9));
        ctx.setState(s);
        ctx.post("bot", {
          r: ctx.random(), m: Math.random(), i: ctx.randomInt(-3, 3), h: ctx.sha256(msg.body.text),
          now: ctx.now(), d: Date.now(), iso: new Date().toISOString(), str: Date(), calls, seq: s.log.length,
          slots: ctx.slots.map((x) => x.slot_id), params: ctx.params, bot: ctx.botId,
        });
      },
    };`;
  const calls: HookCall[] = Array.from({ length: 12 }, (_, i) => ({
    hook: "onMessage",
    now: new Date(Date.parse(T0) + i * 1000).toISOString(),
    msg: user("s0", `m${i}`, i),
  }));

  test("the same code, seed and inputs give byte-identical outputs and state", async () => {
    const a = await play(await start({ code: PROBE, params: { rounds: 3 } }), calls);
    const b = await play(await start({ code: PROBE, params: { rounds: 3 } }), calls);
    expect(record(b)).toBe(record(a));
    expect(a[0]!.outputs[0]!.body).toMatchObject({ now: Date.parse(T0), d: Date.parse(T0), iso: T0, slots: ["s0", "s1"], params: { rounds: 3 }, bot: "b1" });
    expect(a[3]!.outputs[0]!.body.d).toBe(Date.parse(T0) + 3000);
  });

  test("a different seed changes every random value and nothing else", async () => {
    const a = await play(await start({ code: PROBE }), calls);
    const b = await play(await start({ code: PROBE, seed: SEED_B }), calls);
    for (let i = 0; i < calls.length; i++) {
      const x = a[i]!.outputs[0]!.body;
      const y = b[i]!.outputs[0]!.body;
      expect([x.r, x.m]).not.toEqual([y.r, y.m]);
      expect({ ...x, r: 0, m: 0, i: 0 }).toEqual({ ...y, r: 0, m: 0, i: 0 });
    }
  });

  test("resuming at a hook number with its state continues the same streams", async () => {
    const whole = await play(await start({ code: PROBE }), calls);
    const resumed = await start({ code: PROBE, seq: 6, state: whole[5]!.state });
    const tail = await play(resumed, calls.slice(6));
    expect(tail.map((r) => r.outputs[0]!.body.r)).toEqual(whole.slice(6).map((r) => r.outputs[0]!.body.r));
    expect(tail.at(-1)!.state).toEqual(whole.at(-1)!.state);
  });

  test("every bot sees UTC whatever the host zone", async () => {
    const code = `export default { onInit(ctx) { const d = new Date(0); ctx.post("bot", { off: d.getTimezoneOffset(), h: d.getHours(), local: new Date(2025, 0, 1).toISOString(), s: String(d) }) } }`;
    const script = `
      const { createBotRunner } = await import(${JSON.stringify(resolve(import.meta.dir, "../../../src/sandbox/index.ts"))});
      const r = await createBotRunner({ code: ${JSON.stringify(code)}, botId: "tz", seed: "00".repeat(32) });
      console.log(JSON.stringify((await r.runHook({ hook: "onInit", now: "2025-01-01T00:00:00Z" })).outputs[0].body));
      r.dispose();`;
    const out = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, TZ: "Asia/Kolkata" } });
    expect(out.stderr.toString()).toBe("");
    expect(JSON.parse(out.stdout.toString())).toEqual({ off: 0, h: 0, local: "2025-01-01T00:00:00.000Z", s: "Thu Jan 01 1970 00:00:00 GMT+0000" });
  });
});

describe("hooks and ctx", () => {
  test("a missing hook is a no-op; slots given with a call replace the view", async () => {
    const runner = await start({ code: `export default { onJoin(ctx, id) { ctx.post("bot", { n: ctx.slots.length, id }) } }` });
    expect((await runner.runHook({ hook: "onInit", now: T0 })).outputs).toEqual([]);
    const three = [...SLOTS, { slot_id: "s2", label: "bot:dice" }];
    const r = await runner.runHook({ hook: "onJoin", now: T0, slotId: "s2", slots: three });
    expect(r.outputs[0]!.body).toEqual({ n: 3, id: "s2" });
    expect((await runner.runHook({ hook: "onJoin", now: T0, slotId: "s0" })).outputs[0]!.body).toEqual({ n: 3, id: "s0" });
  });

  test("async hooks are awaited; a string body becomes {text}", async () => {
    const runner = await start({ code: `export default { async onMessage(ctx) { await null; ctx.post("bot", "later") } }` });
    const r = await runner.runHook({ hook: "onMessage", now: T0, msg: {} });
    expect(r.outputs).toEqual([{ kind: "bot", body: { text: "later" }, to_slot: null }]);
  });

  test("misuse of ctx is the bot's exception: bad kind, unknown slot, non-object body, fetch", async () => {
    const runner = await start({
      code: `export default { onMessage(ctx, msg) { ({
        kind: () => ctx.post("system", { x: 1 }),
        slot: () => ctx.postTo("s9", "bot", { x: 1 }),
        body: () => ctx.post("bot", [1, 2]),
        fetch: () => ctx.fetch("http://127.0.0.1/"),
      })[msg.what]() } }`,
    });
    const reasons: Record<string, string> = {};
    for (const what of ["kind", "slot", "body", "fetch"]) {
      const r = await runner.runHook({ hook: "onMessage", now: T0, msg: { what } });
      expect(r.error).toBeInstanceOf(AppError);
      expect(r.error!.code).toBe("BOT_ERROR");
      reasons[what] = `${r.error!.detail!.reason}: ${r.error!.message}`;
    }
    expect(reasons.kind).toMatch(/^exception: .*"bot" or "control"/);
    expect(reasons.slot).toMatch(/^exception: .*no slot "s9"/);
    expect(reasons.body).toMatch(/^exception: .*object/);
    // Without a recorded response the hook stops and names the URL it needs (the host may fetch and re-run).
    expect(reasons.fetch).toMatch(/^fetch: .*http:\/\/127\.0\.0\.1\//);
  });

  test("ctx.fetch reads exactly the responses given with the hook, and a refusal is an error the bot can catch", async () => {
    const runner = await start({
      code: `export default { onMessage(ctx, msg) {
        let out;
        try { const r = ctx.fetch(msg.url); out = { status: r.status, body: r.body }; } catch (e) { out = { refused: e.message }; }
        ctx.post("bot", out);
      } }`,
    });
    const fetches = { "https://a.example/x": { status: 200, body: "forty-two" }, "https://b.example/": { error: "host not allowed by this server" } };
    const ok = await runner.runHook({ hook: "onMessage", now: T0, msg: { url: "https://a.example/x" }, fetches });
    expect(ok.outputs).toEqual([{ kind: "bot", body: { status: 200, body: "forty-two" }, to_slot: null }]);
    const refused = await runner.runHook({ hook: "onMessage", now: T0, msg: { url: "https://b.example/" }, fetches });
    expect(refused.outputs[0]!.body).toEqual({ refused: "ctx.fetch https://b.example/: host not allowed by this server" });
  });

  test("lockdown leaves nothing reachable unfrozen but plain built-in methods (own keys only length and name)", async () => {
    const runner = await start({
      code: `export default { onMessage(ctx) {
        const roots = [globalThis, function* () {}, async function () {}, async function* () {}, [][Symbol.iterator](),
          new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ""[Symbol.iterator](), /x/[Symbol.matchAll]("x"),
          [].values().map((x) => x), Iterator.from({ next() { return { done: true }; } })];
        const seen = new Set(), todo = [...roots.map((r) => Object.getPrototypeOf(r)), globalThis], unfrozen = [];
        let plain = 0, frozen = 0;
        while (todo.length) {
          const o = todo.pop();
          if ((typeof o !== "object" && typeof o !== "function") || o === null || seen.has(o)) continue;
          seen.add(o);
          const keys = Reflect.ownKeys(o);
          if (Object.isFrozen(o)) frozen++;
          else if (typeof o === "function" && keys.every((k) => k === "length" || k === "name")) plain++;
          else unfrozen.push(String(o.name ?? keys.slice(0, 3).map(String).join()));
          todo.push(Object.getPrototypeOf(o));
          for (const k of keys) { const d = Object.getOwnPropertyDescriptor(o, k); todo.push(d.value, d.get, d.set); }
        }
        ctx.post("bot", { unfrozen, plain, frozen });
      } }`,
    });
    const r = await runner.runHook({ hook: "onMessage", now: T0, msg: {} });
    expect(r.error).toBeUndefined();
    const { unfrozen, plain, frozen } = r.outputs[0]!.body as { unfrozen: string[]; plain: number; frozen: number };
    expect(unfrozen).toEqual([]);
    expect(frozen).toBeGreaterThan(100); // prototypes, constructors, namespaces
    expect(plain).toBeGreaterThan(300); // Array.prototype.push and the like
  });

  test("built-ins are frozen, but assigning a property they define still works on your own objects", async () => {
    const runner = await start({
      code: `export default { onMessage(ctx) {
        const e = new Error("x"); e.message = "y"; e.name = "Mine";
        const o = {}; o.toString = () => "custom"; o.constructor = 1;
        class Card { toString() { return "A♠" } }
        let frozen = [];
        for (const [name, f] of [["Object.prototype", () => { Object.prototype.x = 1 }], ["Array.prototype.push", () => { Array.prototype.push = null }],
          ["Math.random", () => { Math.random = () => 4 }], ["Date", () => { globalThis.Date = null }], ["new global", () => { globalThis.y = 1 }],
          ["Error.prototype.message", () => { Error.prototype.message = "z" }]]) { try { f(); } catch (err) { frozen.push(name) } }
        ctx.post("bot", { e: String(e), o: String(o), c: o.constructor, card: String(new Card()), frozen });
      } }`,
    });
    const r = await runner.runHook({ hook: "onMessage", now: T0, msg: {} });
    expect(r.error).toBeUndefined();
    expect(r.outputs[0]!.body).toEqual({
      e: "Mine: y",
      o: "custom",
      c: 1,
      card: "A♠",
      frozen: ["Object.prototype", "Array.prototype.push", "Math.random", "Date", "new global", "Error.prototype.message"],
    });
  });

  test("a failed hook is all or nothing: no outputs, state unchanged; the next hook runs", async () => {
    const runner = await start({ code: `export default { onMessage(ctx, msg) { ctx.setState({ v: msg.v }); ctx.post("bot", { v: msg.v }); if (msg.fail) throw new Error("boom") } }` });
    await runner.runHook({ hook: "onMessage", now: T0, msg: { v: 1 } });
    const failed = await runner.runHook({ hook: "onMessage", now: T0, msg: { v: 2, fail: true } });
    expect(failed.outputs).toEqual([]);
    expect(failed.state).toEqual({ v: 1 });
    expect(failed.error!.toString()).toBe('BOT_ERROR: Bot "b1" failed in onMessage (exception): Error: boom');
    expect(failed.reloaded).toBe(false);
    const next = await runner.runHook({ hook: "onMessage", now: T0, msg: { v: 3 } });
    expect(next.outputs[0]!.body).toEqual({ v: 3 });
    expect(next.state).toEqual({ v: 3 });
  });

  test("hooks run one at a time in call order", async () => {
    const runner = await start({ code: `let n = 0; export default { onMessage(ctx, msg) { ctx.post("bot", { n: ++n, i: msg.i }) } }` });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => runner.runHook({ hook: "onMessage", now: T0, msg: { i } })));
    expect(results.map((r) => [r.seq, r.outputs[0]!.body.n, r.outputs[0]!.body.i])).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, i + 1, i]));
  });

  test("dispose() ends the runner", async () => {
    const runner = await createBotRunner({ code: ECHO, botId: "b1", seed: SEED_A });
    runner.dispose();
    expect(runner.runHook({ hook: "onInit", now: T0 })).rejects.toThrow(/disposed/);
  });

  test("a bad hook time is INVALID_REQUEST, not the bot's fault", async () => {
    const runner = await start({ code: ECHO });
    expect(runner.runHook({ hook: "onInit", now: "yesterday" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });
});

describe("createBotRunner() refuses a bot that cannot load, with BOT_ERROR (load)", () => {
  const cases: Record<string, [string, RegExp]> = {
    "a syntax error": ["export default {", /SyntaxError/],
    "a static import": [`import fs from "fs"; export default {}`, /could not load module/],
    "no default export": [`export const x = 1`, /export default/],
    "a default that is not an object": [`export default 42`, /export default/],
    "top-level code that throws": [`throw new Error("nope"); export default {}`, /nope/],
    "an invalid manifest": [`export const manifest = { name: "x y" }; export default {}`, /manifest is invalid/],
  };
  for (const [name, [code, message]] of Object.entries(cases)) {
    test(name, async () => {
      const err = await createBotRunner({ code, botId: "b1", seed: SEED_A }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("BOT_ERROR");
      expect((err as AppError).detail?.reason).toBe("load");
      expect((err as AppError).message).toMatch(message);
    });
  }

  test("top-level code that loops breaks the budget, not the server", async () => {
    const err = (await createBotRunner({ code: `for (;;) {} export default {}`, botId: "b1", seed: SEED_A }).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("BOT_ERROR");
    expect(err.detail?.reason).toBe("budget");
  });

  test("a bad seed or params is INVALID_REQUEST", async () => {
    expect(createBotRunner({ code: ECHO, botId: "b1", seed: "xyz" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    expect(createBotRunner({ code: ECHO, botId: "b1", seed: SEED_A, params: [] as never })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });
});
