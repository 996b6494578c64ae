import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LIMITS, SandboxEngine, type BotErrorReason, type SandboxLimits } from "../../../src/sandbox/index.ts";
import { INITIAL_STATE, type BotProgram, type HookCall } from "../../../src/transcript/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

/**
 * The abuse list of issue 4, against the sandbox alone (channels wiring comes later). Each hostile
 * hook must end in BOT_ERROR with a stable reason, reach nothing of the host, leave the main thread
 * answering (a 10 ms timer never waits 100 ms), and leave the bot usable for the next hook.
 *
 * Memory bound: a bot's wasm memory never exceeds its cap (32 MiB by default; every result reports
 * it); a bot that blew up is dropped, so the next hook runs on a fresh instance of 16 MiB (the
 * build's initial 256 pages); and the whole process stays under RSS_BOUND through the suite.
 */
const CAP = DEFAULT_LIMITS.memoryPages * 64 * 1024;
const FRESH_INSTANCE_MAX = 17 * 1024 * 1024;
const RSS_BOUND = 400 * 1024 * 1024;
const T0 = "2025-03-01T12:00:00.000Z";
const SEED = "5e".repeat(32);

// Canaries a sandbox escape would touch.
const dir = tempDir("parley-abuse-");
const CANARY_FILE = join(dir.path, "escaped");
const CANARY_ENV = "PARLEY_SANDBOX_ESCAPED";
let hits = 0;
let server: ReturnType<typeof Bun.serve>;
let canaryUrl = "";
beforeAll(() => {
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (hits++, new Response("escaped")) });
  canaryUrl = `http://127.0.0.1:${server.port}/escaped`;
});
afterAll(() => {
  engine.dispose();
  server.stop(true);
  dir[Symbol.dispose]();
  console.log(`\nabuse table (time to BOT_ERROR, budget used, worst main-thread timer gap):\n${table.join("\n")}`);
});

const table: string[] = [];
const engine = new SandboxEngine();
let bots = 0;

/** A bot of its own on `on` (an engine with other limits, or the shared one). */
const program = (code: string, params: Record<string, unknown> = {}, botId = `abuser${++bots}`): BotProgram => ({ botId, code, params, seed: SEED, slots: [] });
/** A hook whose trigger is message `id`, with the state it would have: none was ever set. */
const message = (id: number, msg: unknown, now = T0): HookCall => ({ hook: "onMessage", args: [msg], now, state: INITIAL_STATE, entropy: String(id) });
/** An engine with these limits for one test, disposed at its end (`using`). */
function limited(limits?: Partial<SandboxLimits>): SandboxEngine & Disposable {
  const e = limits ? new SandboxEngine(undefined, undefined, undefined, { limits }) : engine;
  return Object.assign(e, { [Symbol.dispose]: () => e !== engine && e.dispose() });
}

/** The hook after an abuse: posts only if the realm is still pristine. */
const OK_HOOK = `if (msg.ok) {
  ctx.post("bot", { ok: true, pristine: ({}).evil === undefined && [1].map((x) => x + 1)[0] === 2 && typeof ctx.post === "function"
    && Date.now() === ctx.now() && typeof process === "undefined" });
  return;
}`;
const bot = (body: string) => `export default { onMessage(ctx, msg) { ${OK_HOOK} ${body} } }`;

/** Watches the main thread with a 10 ms timer; stop() gives the longest wait between two ticks. */
function watchMainThread(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(worst, performance.now() - last);
    },
  };
}

async function abuse(name: string, body: string, reasons: BotErrorReason[], limits?: Partial<SandboxLimits>) {
  using e = limited(limits);
  const abuser = program(bot(body));
  // Loaded first (a hook that only checks the realm), so the watch below times the abuse alone.
  expect((await e.run(abuser, message(1, { ok: true }))).ok).toBe(true);
  const watch = watchMainThread();
  const started = performance.now();
  const result = await e.run(abuser, message(2, {}));
  const ms = performance.now() - started;
  const gap = watch.stop();

  if (result.ok) throw new Error(`${name}: the hook passed`);
  expect(reasons).toContain(result.reason as BotErrorReason);
  // (A fetch the hook was not given stops it; the engine says which: the host would fetch and re-run it.)
  expect(result.message).toStartWith(result.reason === "fetch" ? "ctx.fetch " : `Bot "${abuser.botId}" failed in onMessage (${result.reason}): `);
  expect(result.memoryBytes).toBeLessThanOrEqual(CAP);
  expect(gap).toBeLessThan(100);

  const next = await e.run(abuser, message(3, { ok: true }));
  expect(next.ok && next.outputs).toEqual([{ kind: "bot", body: { ok: true, pristine: true }, to_slot: null }]);
  if (next.fresh) expect(next.memoryBytes).toBeLessThanOrEqual(FRESH_INSTANCE_MAX);
  expect(process.memoryUsage().rss).toBeLessThan(RSS_BOUND);

  table.push(
    `| ${name} | ${result.reason} | ${ms.toFixed(0)} ms | ${result.polls.toFixed(1)} polls | ${gap.toFixed(0)} ms | ${next.fresh ? "dropped, fresh instance" : "kept"} |`,
  );
  return result;
}

describe("abuse: each ends in BOT_ERROR, the main thread keeps answering, the bot recovers", () => {
  test("while (true) {} → budget", () => abuse("while(true){}", "while (true) {}", ["budget"]));

  test("a loop that catches its own interruption → budget (interrupts are uncatchable)", () =>
    abuse("catch-and-loop", "for (;;) { try { for (;;) {} } catch (e) {} }", ["budget"]));

  test("plain runaway recursion → stack", () => abuse("runaway recursion", "function f(n) { return f(n + 1) + 1 } f(0)", ["stack"]));

  // Every retry rebuilds a stack-overflow error with its backtrace between two polls, so polls come
  // ~100 ms apart and the deadline (not replayable) ends it: ~1.0–1.4 s with a 1 s deadline.
  test("catch-and-retry recursion → deadline", () => abuse("catch-and-retry recursion", "function f() { try { f() } catch (e) { f() } } f()", ["deadline"]));

  test("a regex bomb → budget (the regex engine polls)", () => abuse("regex bomb", "/(a+)+$/.test('a'.repeat(40) + '!')", ["budget"]));

  test("a 2 GiB allocation loop → memory", () => abuse("2 GiB allocation loop", "const a = []; for (;;) a.push(new Float64Array(1e5))", ["memory"]));

  test("an allocation loop that catches out-of-memory → memory", () =>
    abuse("allocation loop catching OOM", "const a = []; for (;;) { try { a.push(new Float64Array(1e5)) } catch (e) {} }", ["memory"]));

  test("one 1 GB ArrayBuffer → memory", () => abuse("new ArrayBuffer(1e9)", "new ArrayBuffer(1e9)", ["memory"]));

  test("a string doubling loop → memory", () => abuse("string doubling", "let s = 'x'; for (;;) s += s", ["memory"]));

  // Out of memory inside one native call: QuickJS cannot even allocate its "out of memory" error and
  // throws null, with the wasm memory left grown past the cap's high-water mark. That hook used to be
  // reported as "exception: failed", and the next, innocent hook failed with "memory".
  test("JSON.parse building 200k objects runs out of memory natively → memory; the next hook starts clean", () =>
    abuse("JSON.parse out of memory (null thrown)", `JSON.parse('[' + '{"a":[1,2]},'.repeat(200000) + '1]')`, ["memory"]));

  test("100k pending promise jobs → memory or budget", () =>
    abuse("100k pending promises", "for (let i = 0; i < 1e5; i++) Promise.resolve(i).then((x) => x + 1)", ["memory", "budget"]));

  test("10,000 posts in one hook → outputs (cap 100; none delivered)", () =>
    abuse("10,000 posts", "for (let i = 0; i < 10000; i++) ctx.post('bot', { i })", ["outputs"]));

  test("10,000 posts, each failure caught → still outputs", () =>
    abuse("10,000 posts, errors caught", "for (let i = 0; i < 10000; i++) try { ctx.post('bot', { i }) } catch (e) {}", ["outputs"]));

  test("one 1 MB body → outputs (16 KiB per body)", () => abuse("1 MB body", "ctx.post('bot', { s: 'x'.repeat(1 << 20) })", ["outputs"]));

  test("a 10 MB setState → state", () => abuse("10 MB setState", "ctx.setState({ s: 'x'.repeat(10 * 1024 * 1024) })", ["state", "memory"]));

  test("a 10 MB setState whose error is caught → still state", () =>
    abuse("10 MB setState, error caught", "try { ctx.setState({ s: 'x'.repeat(10 * 1024 * 1024) }) } catch (e) {} ctx.post('bot', { after: true })", ["state", "memory"]));

  test("hashing in a loop → budget (host calls are charged)", () =>
    abuse("ctx.sha256 of 1 MiB in a loop", "const s = 'x'.repeat(1 << 20); for (;;) ctx.sha256(s)", ["budget"]));

  test("ctx.random() in a loop → budget", () => abuse("ctx.random() in a loop", "for (;;) ctx.random()", ["budget"]));

  test("prototype tampering: Object.prototype", () => abuse("Object.prototype.evil = 1", "Object.prototype.evil = 1", ["exception"]));
  test("prototype tampering: Array.prototype", () =>
    abuse("Array.prototype.map = …", "Array.prototype.map = function () { return [42] }", ["exception"]));
  test("prototype tampering: defineProperty on Object.prototype", () =>
    abuse("defineProperty(Object.prototype)", "Object.defineProperty(Object.prototype, 'evil', { get() { return 1 } })", ["exception"]));
  test("prototype tampering: __proto__ swap of a built-in", () =>
    abuse("setPrototypeOf(Array.prototype)", "Object.setPrototypeOf(Array.prototype, null)", ["exception"]));
  test("ctx mutation", () => abuse("ctx.post = …", "ctx.post = () => {}", ["exception"]));
  test("ctx.params mutation", () => abuse("ctx.params.x = …", "ctx.params.x = 1", ["exception"]));
  test("replacing Math.random", () => abuse("Math.random = …", "Math.random = () => 0.5", ["exception"]));

  test("hook time out of the worker: main thread terminates it → deadline", () =>
    abuse("stuck past terminateMs (worker terminated)", "while (true) {}", ["deadline"], { budgetPolls: 1e9, deadlineMs: 60_000, terminateMs: 300 }));
});

describe("abuse: params", () => {
  // The prelude parses and freezes the params under the bot's meter: a limit broken there is the
  // bot's failure, with its reason (a replay reaches the same), not "the engine failed to start".
  test("600 KB of params in 200k arrays fail the load with memory", async () => {
    const result = await engine.run(program(bot(""), { junk: Array.from({ length: 200_000 }, () => []) }, "params"), message(1, {}));
    expect(result).toMatchObject({ ok: false, reason: "memory" });
    expect(!result.ok && result.message).toStartWith('Bot "params" failed in load (memory): ');
  });
});

describe("abuse: nothing of the host is reachable", () => {
  const attempts: Record<string, string> = {
    process: `process.env.${CANARY_ENV} = "1"; process.exit(7)`,
    Bun: `Bun.write(${JSON.stringify(CANARY_FILE)}, "x")`,
    "global fetch": `fetch(${JSON.stringify("CANARY_URL")})`,
    "ctx.fetch": `ctx.fetch(${JSON.stringify("CANARY_URL")})`,
    require: `require("fs").writeFileSync(${JSON.stringify(CANARY_FILE)}, "x")`,
    "import()": `return import("fs").then((fs) => fs.writeFileSync(${JSON.stringify(CANARY_FILE)}, "x"))`,
    "import('bun')": `return import("bun").then((b) => b.write(${JSON.stringify(CANARY_FILE)}, "x"))`,
    "globalThis.constructor": `globalThis.constructor.constructor("return process")().exit(7)`,
    "Function('return this')": `Function("return this")().Bun.write(${JSON.stringify(CANARY_FILE)}, "x")`,
    "eval of a host name": `eval("process").exit(7)`,
    "a stolen host bridge": `globalThis.host("post", "", "bot", "{}"); __host("post", "", "bot", "{}")`,
    "WebAssembly": `new WebAssembly.Memory({ initial: 1 })`,
    "timers": `setTimeout(() => {}, 0)`,
  };
  for (const [name, body] of Object.entries(attempts)) {
    // ctx.fetch never reaches the network from the sandbox: the hook stops asking its host for the
    // response (reason "fetch"); only the server's allow-listed fetcher could supply one.
    const reason: BotErrorReason = name === "ctx.fetch" ? "fetch" : "exception";
    test(`reaching ${name} → ${reason}, no canary touched`, async () => {
      await abuse(`reach ${name}`, body.replace("CANARY_URL", canaryUrl), [reason]);
      expect(existsSync(CANARY_FILE)).toBe(false);
      expect(process.env[CANARY_ENV]).toBeUndefined();
      expect(hits).toBe(0);
    });
  }

  test("timing via Date: every clock reads the triggering message's time", async () => {
    const clock = program(`export default { onMessage(ctx) {
        const a = Date.now(), d = new Date();
        for (let i = 0; i < 3e5; i++) {}
        ctx.post("bot", { a, b: Date.now(), d: d.getTime(), e: new Date().getTime(), f: Date(), now: ctx.now(),
          viaProto: new (Object.getPrototypeOf(new Date(0)).constructor)().getTime(),
          perf: typeof performance, timers: typeof setTimeout, weakref: typeof WeakRef, fr: typeof FinalizationRegistry, sab: typeof SharedArrayBuffer });
      } }`);
    const later = "2031-07-04T09:15:00.250Z";
    for (const [i, now] of [T0, later].entries()) {
      const r = await engine.run(clock, message(i + 1, {}, now));
      const { f, ...body } = r.ok ? r.outputs[0]!.body : {};
      const ms = Date.parse(now);
      expect(body).toEqual({
        a: ms, b: ms, d: ms, e: ms, now: ms, viaProto: ms,
        perf: "undefined", timers: "undefined", weakref: "undefined", fr: "undefined", sab: "undefined",
      });
      expect(f).toEndWith(" GMT+0000");
      expect(Date.parse(f as string)).toBe(ms - (ms % 1000));
    }
  });
});

describe("abuse: verdicts replay", () => {
  for (const [name, body] of [
    ["budget", "while (true) {}"],
    ["memory", "const a = []; for (;;) a.push(new Float64Array(1e5))"],
    ["outputs", "for (let i = 0; i < 10000; i++) ctx.post('bot', { i })"],
  ] as const) {
    test(`${name}: the same bot and input give the same verdict and the same budget used`, async () => {
      // The same bot on engines of its own each time: nothing shared but the code, seed and input.
      const runOnce = async () => {
        const e = new SandboxEngine();
        try {
          const r = await e.run(program(bot(body), {}, "replay"), message(1, {}));
          return r.ok ? { reason: "none" } : { reason: r.reason, message: r.message, polls: r.polls, memory: r.memoryBytes };
        } finally {
          e.dispose();
        }
      };
      const first = await runOnce();
      expect(first.reason).toBe(name);
      expect(await runOnce()).toEqual(first);
    });
  }
});
