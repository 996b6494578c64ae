import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { AppError } from "../../../src/errors.ts";
import { SandboxEngine, type HookUsage } from "../../../src/sandbox/index.ts";
import { INITIAL_STATE, type BotProgram, type HookCall, type HookResult } from "../../../src/transcript/index.ts";

/** Hooks as a bot sees them, driven through the engine the way channels drive it (state and trigger id threaded). */
const BOTS = resolve(import.meta.dir, "../../../bots");
const ECHO = readFileSync(resolve(BOTS, "echo.js"), "utf8");
const DICE = readFileSync(resolve(BOTS, "dice.js"), "utf8");
const SEED_A = "a1".repeat(32);
const SEED_B = "b2".repeat(32);
const SLOTS = [
  { slot_id: "s0", label: "alice", kind: "invite" },
  { slot_id: "s1", label: "bob", kind: "invite" },
];
const T0 = "2025-03-01T12:00:00.000Z";

const engine = new SandboxEngine();
/** A second engine, for the same bot run again from scratch. */
const other = new SandboxEngine();
afterAll(() => {
  engine.dispose();
  other.dispose();
});
let bots = 0;

type Result = HookResult & HookUsage;
/** One hook: what hookFor gives (hook, args, now), and optionally the fetches a replay would pass. */
type Step = Pick<HookCall, "hook" | "args" | "now" | "fetches">;

/** A bot of its own (a fresh id), driven like channels drive one: each hook gets the last good state and the next trigger id. */
function start(code: string, options: Partial<BotProgram> & { state?: string; seq?: number; on?: SandboxEngine } = {}) {
  const { on = engine, state: given, seq: from, ...fields } = options;
  const program: BotProgram = { botId: `b${++bots}`, code, params: {}, seed: SEED_A, slots: SLOTS, ...fields };
  let state = given ?? INITIAL_STATE;
  let seq = from ?? 0;
  return {
    program,
    async run(step: Step): Promise<Result & { seq: number }> {
      const r = await on.run(program, { ...step, state, entropy: String(++seq) });
      if (r.ok) state = r.state;
      return { ...r, seq };
    },
    get state() {
      return JSON.parse(state);
    },
  };
}
type Bot = ReturnType<typeof start>;

const user = (sender: string, text: string, id = 1) => ({ id, kind: "user", sender, body: { text }, ts: T0, to_slot: null });
const onMessage = (msg: unknown, now = T0): Step => ({ hook: "onMessage", args: [msg], now });
const outputs = (r: Result) => (r.ok ? r.outputs : []);

/** A game's worth of hooks, as channels will send them. */
const SCRIPT: Step[] = [
  { hook: "onInit", args: [], now: T0 },
  { hook: "onJoin", args: ["s0"], now: T0 },
  onMessage(user("s0", "!roll 3d6")),
  onMessage(user("s1", "!roll d20", 2), "2025-03-01T12:00:05.000Z"),
  { hook: "onPrivateMessage", args: ["s1", user("s1", "!roll 2d100", 3)], now: T0 },
  onMessage(user("s0", "!roll 99d6", 4)),
  onMessage(user("s0", "hello", 5)),
];

async function play(bot: Bot, steps = SCRIPT): Promise<Result[]> {
  const results: Result[] = [];
  for (const step of steps) results.push(await bot.run(step));
  return results;
}
/** What a replay must reproduce byte for byte: outputs, state and verdicts, not timings. */
const record = (results: Result[]) =>
  JSON.stringify(results.map((r) => (r.ok ? { outputs: r.outputs, state: r.state, polls: r.polls } : { reason: r.reason, message: r.message, polls: r.polls })));

describe("the presets", () => {
  test("EchoBot greets, echoes publicly and privately, and counts in its state", async () => {
    expect(await engine.manifestOf(ECHO)).toMatchObject({ name: "EchoBot", version: "1.0.0" });
    const echo = start(ECHO);
    const [init, join, pub, priv] = await play(echo, [
      { hook: "onInit", args: [], now: T0 },
      { hook: "onJoin", args: ["s1"], now: T0 },
      onMessage(user("s0", "hi there")),
      { hook: "onPrivateMessage", args: ["s1", user("s1", "psst")], now: T0 },
    ]);
    expect(outputs(init!)).toEqual([{ kind: "bot", body: { text: "Echo ready" }, to_slot: null }]);
    expect(outputs(join!)).toEqual([{ kind: "bot", body: { text: "Welcome, s1" }, to_slot: null }]);
    expect(outputs(pub!)).toEqual([{ kind: "bot", body: { echo: "hi there", from: "s0", n: 1 }, to_slot: null }]);
    expect(outputs(priv!)).toEqual([{ kind: "bot", body: { echo: "psst", n: 2 }, to_slot: "s1" }]);
    expect(echo.state).toEqual({ n: 2 });
  });

  test("DiceBot with one seed rolls identically twice; another seed rolls differently", async () => {
    const first = await play(start(DICE, { botId: "dice" }));
    const again = await play(start(DICE, { botId: "dice", on: other }));
    const reseeded = await play(start(DICE, { botId: "dice", seed: SEED_B }));
    expect(record(again)).toBe(record(first));
    expect(record(reseeded)).not.toBe(record(first));

    const roll = outputs(first[2]!)[0]!;
    expect(roll).toMatchObject({ kind: "bot", to_slot: null, body: { roll: "3d6", by: "s0", n: 1 } });
    const dice = roll.body.dice as number[];
    expect(dice).toHaveLength(3);
    expect(dice.every((d) => Number.isInteger(d) && d >= 1 && d <= 6)).toBe(true);
    expect(roll.body.total).toBe(dice.reduce((a, b) => a + b, 0));
    expect(outputs(first[4]!)[0]).toMatchObject({ to_slot: "s1", body: { roll: "2d100", by: "s1" } });
    expect(outputs(first[5]!)[0]!.body).toHaveProperty("error");
    expect(outputs(first[6]!)).toEqual([]);
    expect(first.every((r) => r.ok)).toBe(true);
  });

  test("presets export a valid manifest with rules for an AI reader", async () => {
    for (const code of [ECHO, DICE]) {
      expect(String((await engine.manifestOf(code)).rules).length).toBeGreaterThan(20);
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
  const steps: Step[] = Array.from({ length: 12 }, (_, i) => onMessage(user("s0", `m${i}`, i), new Date(Date.parse(T0) + i * 1000).toISOString()));

  test("the same code, seed and inputs give byte-identical outputs and state", async () => {
    const a = await play(start(PROBE, { botId: "probe", params: { rounds: 3 } }), steps);
    const b = await play(start(PROBE, { botId: "probe", params: { rounds: 3 }, on: other }), steps);
    expect(record(b)).toBe(record(a));
    expect(outputs(a[0]!)[0]!.body).toMatchObject({ now: Date.parse(T0), d: Date.parse(T0), iso: T0, slots: ["s0", "s1"], params: { rounds: 3 }, bot: "probe" });
    expect(outputs(a[3]!)[0]!.body.d).toBe(Date.parse(T0) + 3000);
  });

  test("a different seed changes every random value and nothing else", async () => {
    const a = await play(start(PROBE, { botId: "same" }), steps);
    const b = await play(start(PROBE, { botId: "same", seed: SEED_B, on: other }), steps);
    for (let i = 0; i < steps.length; i++) {
      const x = outputs(a[i]!)[0]!.body;
      const y = outputs(b[i]!)[0]!.body;
      expect([x.r, x.m]).not.toEqual([y.r, y.m]);
      expect({ ...x, r: 0, m: 0, i: 0 }).toEqual({ ...y, r: 0, m: 0, i: 0 });
    }
  });

  test("a hook is a pure function of its inputs: a cold bot given hook 7's state and trigger continues the same streams", async () => {
    const whole = await play(start(PROBE, { botId: "pure" }), steps);
    const resumed = start(PROBE, { botId: "pure", state: (whole[5] as Extract<Result, { ok: true }>).state, seq: 6 });
    const tail = await play(resumed, steps.slice(6));
    expect(tail.map((r) => outputs(r)[0]!.body.r)).toEqual(whole.slice(6).map((r) => outputs(r)[0]!.body.r));
    expect(record([tail.at(-1)!]).replace(/"calls":\d+/, "")).toBe(record([whole.at(-1)!]).replace(/"calls":\d+/, ""));
  });

  test("every bot sees UTC whatever the host zone", async () => {
    const code = `export default { onInit(ctx) { const d = new Date(0); ctx.post("bot", { off: d.getTimezoneOffset(), h: d.getHours(), local: new Date(2025, 0, 1).toISOString(), s: String(d) }) } }`;
    const script = `
      const { SandboxEngine } = await import(${JSON.stringify(resolve(import.meta.dir, "../../../src/sandbox/index.ts"))});
      const e = new SandboxEngine();
      const r = await e.run({ botId: "tz", code: ${JSON.stringify(code)}, params: {}, seed: "00".repeat(32), slots: [] }, { hook: "onInit", args: [], now: "2025-01-01T00:00:00Z", state: "null", entropy: "1" });
      console.log(JSON.stringify(r.outputs[0].body));
      e.dispose();`;
    const out = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, TZ: "Asia/Kolkata" } });
    expect(out.stderr.toString()).toBe("");
    expect(JSON.parse(out.stdout.toString())).toEqual({ off: 0, h: 0, local: "2025-01-01T00:00:00.000Z", s: "Thu Jan 01 1970 00:00:00 GMT+0000" });
  });
});

describe("hooks and ctx", () => {
  test("a missing hook is a no-op; ctx.slots is the program's slot view", async () => {
    const bot = start(`export default { onJoin(ctx, id) { ctx.post("bot", { n: ctx.slots.length, id, labels: ctx.slots.map((s) => s.label) }) } }`);
    const init = await bot.run({ hook: "onInit", args: [], now: T0 });
    expect(init.ok && init.outputs).toEqual([]);
    expect(outputs(await bot.run({ hook: "onJoin", args: ["s1"], now: T0 }))[0]!.body).toEqual({ n: 2, id: "s1", labels: ["alice", "bob"] });
  });

  test("async hooks are awaited; a string body becomes {text}", async () => {
    const bot = start(`export default { async onMessage(ctx) { await null; ctx.post("bot", "later") } }`);
    expect(outputs(await bot.run(onMessage({})))).toEqual([{ kind: "bot", body: { text: "later" }, to_slot: null }]);
  });

  test("the arguments reach the bot as hookFor gives them", async () => {
    const bot = start(`export default { onPrivateMessage(ctx, slotId, msg) { ctx.postTo(slotId, "control", { slotId, msg }) } }`);
    const msg = { id: 7, sender: "s1", kind: "user", body: { text: "psst", nested: [1, { a: null }] }, ts: T0, to_slot: "bot:b" };
    expect(outputs(await bot.run({ hook: "onPrivateMessage", args: ["s1", msg], now: T0 }))).toEqual([{ kind: "control", body: { slotId: "s1", msg }, to_slot: "s1" }]);
  });

  test("misuse of ctx is the bot's exception: bad kind, unknown slot, non-object body, fetch", async () => {
    const bot = start(`export default { onMessage(ctx, msg) { ({
        kind: () => ctx.post("system", { x: 1 }),
        slot: () => ctx.postTo("s9", "bot", { x: 1 }),
        body: () => ctx.post("bot", [1, 2]),
        fetch: () => ctx.fetch("http://127.0.0.1/"),
      })[msg.what]() } }`);
    const reasons: Record<string, string> = {};
    for (const what of ["kind", "slot", "body", "fetch"]) {
      const r = await bot.run(onMessage({ what }));
      if (r.ok) throw new Error(`${what} passed`);
      reasons[what] = `${r.reason}: ${r.message}`;
    }
    expect(reasons.kind).toMatch(/^exception: .*"bot" or "control"/);
    expect(reasons.slot).toMatch(/^exception: .*no slot "s9"/);
    expect(reasons.body).toMatch(/^exception: .*object/);
    // Without a fetcher (a replay) and without a recorded response, the hook cannot go on.
    expect(reasons.fetch).toBe("fetch: ctx.fetch http://127.0.0.1/ has no recorded response");
  });

  test("ctx.fetch reads exactly the responses given with the hook, and a refusal is an error the bot can catch", async () => {
    const bot = start(`export default { onMessage(ctx, msg) {
        let out;
        try { const r = ctx.fetch(msg.url); out = { status: r.status, body: r.body }; } catch (e) { out = { refused: e.message }; }
        ctx.post("bot", out);
      } }`);
    const fetches = [
      { url: "https://a.example/x", status: 200, body: "forty-two" },
      { url: "https://b.example/", error: "host not allowed by this server" },
    ];
    const ok = await bot.run({ ...onMessage({ url: "https://a.example/x" }), fetches });
    expect(outputs(ok)).toEqual([{ kind: "bot", body: { status: 200, body: "forty-two" }, to_slot: null }]);
    expect(ok.fetches).toEqual([fetches[0]!]);
    const refused = await bot.run({ ...onMessage({ url: "https://b.example/" }), fetches });
    expect(outputs(refused)[0]!.body).toEqual({ refused: "ctx.fetch https://b.example/: host not allowed by this server" });
  });

  test("lockdown leaves nothing reachable unfrozen but plain built-in methods (own keys only length and name)", async () => {
    const bot = start(`export default { onMessage(ctx) {
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
      } }`);
    const r = await bot.run(onMessage({}));
    expect(r.ok).toBe(true);
    const { unfrozen, plain, frozen } = outputs(r)[0]!.body as { unfrozen: string[]; plain: number; frozen: number };
    expect(unfrozen).toEqual([]);
    expect(frozen).toBeGreaterThan(100); // prototypes, constructors, namespaces
    expect(plain).toBeGreaterThan(300); // Array.prototype.push and the like
  });

  test("built-ins are frozen, but assigning a property they define still works on your own objects", async () => {
    const bot = start(`export default { onMessage(ctx) {
        const e = new Error("x"); e.message = "y"; e.name = "Mine";
        const o = {}; o.toString = () => "custom"; o.constructor = 1;
        class Card { toString() { return "A♠" } }
        let frozen = [];
        for (const [name, f] of [["Object.prototype", () => { Object.prototype.x = 1 }], ["Array.prototype.push", () => { Array.prototype.push = null }],
          ["Math.random", () => { Math.random = () => 4 }], ["Date", () => { globalThis.Date = null }], ["new global", () => { globalThis.y = 1 }],
          ["Error.prototype.message", () => { Error.prototype.message = "z" }]]) { try { f(); } catch (err) { frozen.push(name) } }
        ctx.post("bot", { e: String(e), o: String(o), c: o.constructor, card: String(new Card()), frozen });
      } }`);
    const r = await bot.run(onMessage({}));
    expect(r.ok).toBe(true);
    expect(outputs(r)[0]!.body).toEqual({
      e: "Mine: y",
      o: "custom",
      c: 1,
      card: "A♠",
      frozen: ["Object.prototype", "Array.prototype.push", "Math.random", "Date", "new global", "Error.prototype.message"],
    });
  });

  test("a failed hook is all or nothing: no outputs, no state; the next hook runs on the state before it", async () => {
    const bot = start(`export default { onMessage(ctx, msg) { ctx.setState({ v: msg.v }); ctx.post("bot", { v: msg.v }); if (msg.fail) throw new Error("boom") } }`);
    await bot.run(onMessage({ v: 1 }));
    const failed = await bot.run(onMessage({ v: 2, fail: true }));
    expect(failed).toEqual({ ok: false, reason: "exception", message: `Bot "${bot.program.botId}" failed in onMessage (exception): Error: boom`, replayable: true, polls: failed.polls, memoryBytes: failed.memoryBytes, seq: 2 });
    expect(bot.state).toEqual({ v: 1 });
    const next = await bot.run(onMessage({ v: 3 }));
    expect(outputs(next)[0]!.body).toEqual({ v: 3 });
    expect(next.fresh).toBeUndefined(); // the bot's own exception keeps its module
    expect(bot.state).toEqual({ v: 3 });
  });

  test("concurrent hooks of one bot run one at a time, in call order", async () => {
    const bot = start(`let n = 0; export default { onMessage(ctx, msg) { ctx.post("bot", { n: ++n, i: msg.i }) } }`);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.run(bot.program, { ...onMessage({ i }), state: INITIAL_STATE, entropy: String(i + 1) })));
    expect(results.map((r) => [outputs(r)[0]!.body.n, outputs(r)[0]!.body.i])).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, i]));
    expect(results.map((r) => r.fresh === true)).toEqual(Array.from({ length: 20 }, (_, i) => i === 0));
  });

  test("dispose() ends the engine", async () => {
    const e = new SandboxEngine();
    e.dispose();
    expect(e.run(start(ECHO).program, { hook: "onInit", args: [], now: T0, state: INITIAL_STATE, entropy: "1" })).rejects.toThrow(/disposed/);
  });

  test("a bad hook time or trigger id is INVALID_REQUEST, not the bot's fault", async () => {
    const { program } = start(ECHO);
    const call: HookCall = { hook: "onInit", args: [], now: T0, state: INITIAL_STATE, entropy: "1" };
    expect(engine.run(program, { ...call, now: "yesterday" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    expect(engine.run(program, { ...call, entropy: "0" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    expect(engine.run(program, { ...call, entropy: "x" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });
});

describe("a bot that cannot load fails with BOT_ERROR (load)", () => {
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
      const err = await engine.manifestOf(code).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("BOT_ERROR");
      expect((err as AppError).detail?.reason).toBe("load");
      expect((err as AppError).message).toMatch(message);
      expect((err as AppError).message).toStartWith('Bot "manifest-check" failed in load (load): ');
      // A hook of such a bot fails the same way, and the bot's next hook tries loading it again.
      const bot = start(code);
      for (let i = 0; i < 2; i++) {
        const r = await bot.run(onMessage({}));
        expect(r.ok ? "passed" : `${r.reason}: ${r.message}`).toMatch(new RegExp(`^load: Bot "${bot.program.botId}" failed in load \\(load\\): .*${message.source}`));
      }
    });
  }

  test("top-level code that loops breaks the budget, not the server", async () => {
    const err = (await engine.manifestOf(`for (;;) {} export default {}`).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("BOT_ERROR");
    expect(err.detail?.reason).toBe("budget");
  });

  test("a bad seed or params fails the hook, named (the program is the server's, not the bot's)", async () => {
    const seed = await start(ECHO, { seed: "xyz" }).run(onMessage({}));
    expect(seed).toMatchObject({ ok: false, reason: "exception", message: "Invalid bot seed: expected 64 lowercase hex digits" });
    const params = await start(ECHO, { params: [] as never }).run(onMessage({}));
    expect(params).toMatchObject({ ok: false, reason: "exception", message: "Bot params must be a JSON object" });
  });
});
