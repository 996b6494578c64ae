import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BotPool, SandboxEngine, type EngineTuning, type HookUsage } from "../../../src/sandbox/index.ts";
import { INITIAL_STATE, type HookResult } from "../../../src/transcript/index.ts";

/**
 * Built-in presets share a few workers (pool.ts); any other code runs on a worker of its own. Each bot
 * is its own QuickJS instance with its own capped memory either way. What sharing must not change: a
 * bot's outputs, the order of its hooks, and that one bot's stuck hook or memory bomb costs only that
 * bot's hook (the shared-worker tests pin COUNTER, inline code, to the shared workers to check it).
 * What a worker of its own adds: a stuck native call delays and reloads no other bot, and the warm
 * set (instances and own workers) stays within its memory bound.
 */
const ECHO = readFileSync(resolve(import.meta.dir, "../../../bots/echo.js"), "utf8");
const T0 = "2025-03-01T12:00:00.000Z";
const SLOTS = [{ slot_id: "s0", label: "a", kind: "invite" }];
const user = (text: string, id = 1) => ({ id, kind: "user", sender: "s0", body: { text }, ts: T0, to_slot: null });

/** A bot whose answer depends on its state, its seed and its module variables (lost on reload). */
const COUNTER = `let loads = 0; loads++;
export default { onMessage(ctx, msg) {
  if (msg.body.text === "stick") { for (;;) {} }
  if (msg.body.text === "bomb") { const a = []; for (;;) a.push(new Float64Array(1e5)); }
  const n = (ctx.getState() ?? 0) + 1; ctx.setState(n);
  ctx.post("bot", { n, r: ctx.randomInt(1, 1e6), echo: msg.body.text, loads });
} }`;

/** A bot whose module keeps 20 MiB of arrays: 28 MiB of wasm memory, just under the default cap's high-water mark. */
const HEAVY = `const data = []; for (let i = 0; i < 20; i++) data.push(new Float64Array(1 << 17).fill(i));
export default { onMessage(ctx, msg) { ctx.post("bot", { n: data.length, echo: msg.body.text }); } };`;

const rss = () => {
  Bun.gc(true);
  return process.memoryUsage().rss;
};

const pools: BotPool[] = [];
const engines: SandboxEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.dispose();
  for (const p of pools.splice(0)) p.dispose();
});
function pool(options: ConstructorParameters<typeof BotPool>[0]): BotPool {
  const p = new BotPool(options);
  pools.push(p);
  return p;
}
/** An engine on the pool: the bots it runs, with these limits and placement. */
function engineOn(p: BotPool, tuning: EngineTuning = {}): SandboxEngine {
  const e = new SandboxEngine(p, undefined, undefined, tuning);
  engines.push(e);
  return e;
}

type Result = HookResult & HookUsage;
/** A bot as channels drive one: each hook gets the next trigger id and the state of the last good hook. */
function bot(e: SandboxEngine, botId: string, options: { code?: string; seed?: string } = {}) {
  const program = { botId, code: options.code ?? COUNTER, params: {}, seed: options.seed ?? "ab".repeat(32), slots: SLOTS };
  let state = INITIAL_STATE;
  let seq = 0;
  return {
    async say(text: string): Promise<Result> {
      const r = await e.run(program, { hook: "onMessage", args: [user(text, ++seq)], now: T0, state, entropy: String(seq) });
      if (r.ok) state = r.state;
      return r;
    },
  };
}
type Bot = ReturnType<typeof bot>;
const body = (r: Result) => (r.ok ? r.outputs[0]?.body : undefined);
const reason = (r: Result) => (r.ok ? undefined : r.reason);
/** The module was evaluated anew for this hook (first hook, reload, replaced worker). */
const reloaded = (r: Result) => r.fresh === true;
const seedOf = (i: number) => i.toString(16).padStart(2, "0").repeat(32);

describe("shared workers hosting many bots", () => {
  test("200 bots live at once on 2 workers: bounded RSS, every bot answers for itself", async () => {
    const p = pool({ workers: 2 });
    const e = engineOn(p);
    await bot(e, "first", { code: ECHO }).say("warm"); // the workers and the engine, before the baseline
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const bots = Array.from({ length: 200 }, (_, i) => bot(e, `echo${i}`, { code: ECHO }));
    const replies = [];
    for (const [i, b] of bots.entries()) replies.push(await b.say(`hello ${i}`));
    Bun.gc(true);
    const perBot = (process.memoryUsage().rss - before) / 200;
    console.log(`RSS growth per live bot: ${(perBot / 1024).toFixed(0)} KiB (load per worker ${p.load.join("/")})`);
    expect(p.load).toEqual([101, 100]);
    expect(perBot).toBeLessThan(1024 * 1024);
    replies.forEach((r, i) => expect(body(r)).toEqual({ echo: `hello ${i}`, from: "s0", n: 1 }));
    // Still live: the second hook is warm everywhere and counts on.
    const again = await Promise.all(bots.map((b, i) => b.say(`again ${i}`)));
    again.forEach((r, i) => {
      expect(reloaded(r)).toBe(false);
      expect(body(r)).toEqual({ echo: `again ${i}`, from: "s0", n: 2 });
    });
  }, 60_000);

  test("a stuck hook kills its shared worker: only that hook fails; co-hosted bots answer exactly as alone", async () => {
    const shared = pool({ workers: 1 });
    const stuck = bot(engineOn(shared, { limits: { budgetPolls: 1e9, deadlineMs: 60_000, terminateMs: 300 }, isolateInline: false }), "stuck");
    const e = engineOn(shared, { isolateInline: false });
    const others = [1, 2, 3].map((i) => bot(e, `b${i}`, { seed: seedOf(i) }));
    // References: the same bots, alone on their own pool.
    const alone = engineOn(pool({ workers: 1 }), { isolateInline: false });
    const refs = [1, 2, 3].map((i) => bot(alone, `b${i}`, { seed: seedOf(i) }));
    const expected: Result[][] = [];
    for (const text of ["w", "x", "y"]) expected.push(await Promise.all(refs.map((r) => r.say(text))));
    await Promise.all([stuck.say("w"), ...others.map((r) => r.say("w"))]);

    // The stuck hook goes first; the others' hooks were already submitted behind it.
    const started = performance.now();
    const [jam, ...during] = await Promise.all([stuck.say("stick"), ...others.map((r) => r.say("x"))]);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(reason(jam!)).toBe("deadline");
    expect(jam).toMatchObject({ ok: false, replayable: false });
    during.forEach((r, i) => {
      expect(r.ok).toBe(true);
      expect(reloaded(r)).toBe(true); // on the fresh worker
      expect({ ...body(r), loads: 0 }).toEqual({ ...body(expected[1]![i]!), loads: 0 });
      expect(r.ok && r.state).toBe(expected[1]![i]!.ok && expected[1]![i]!.state);
    });
    // Right after: warm again, the same answers as alone; the stuck bot answers too.
    const next = await Promise.all(others.map((r) => r.say("y")));
    next.forEach((r, i) => {
      expect(reloaded(r)).toBe(false);
      expect(r.ok && r.outputs).toEqual(expected[2]![i]!.ok && expected[2]![i]!.outputs);
    });
    const recovered = await stuck.say("fine");
    expect(recovered.ok).toBe(true);
    expect(body(recovered)).toMatchObject({ echo: "fine", n: 2 });
  }, 20_000);

  test("a memory bomb drops only the bomber's instance; co-hosted bots keep theirs", async () => {
    const e = engineOn(pool({ workers: 1 }), { isolateInline: false });
    const bomber = bot(e, "bomber");
    const other = bot(e, "other");
    await Promise.all([bomber.say("a"), other.say("a")]);
    const [bomb, during] = await Promise.all([bomber.say("bomb"), other.say("b")]);
    expect(reason(bomb!)).toBe("memory");
    expect(during!.ok).toBe(true);
    expect(reloaded(during!)).toBe(false);
    expect(body(during!)).toMatchObject({ n: 2, echo: "b", loads: 1 });
    expect(reloaded(await other.say("c"))).toBe(false);
    const after = await bomber.say("ok");
    expect(reloaded(after)).toBe(true);
    expect(body(after)).toMatchObject({ n: 2, echo: "ok", loads: 1 });
  }, 20_000);

  test("hooks of many bots interleave on one worker; each bot's stay in order", async () => {
    const e = engineOn(pool({ workers: 1 }), { isolateInline: false });
    const code = `let k = 0; export default { onMessage(ctx, msg) { ctx.post("bot", { k: ++k, echo: msg.body.text }) } }`;
    const bots = [0, 1, 2, 3].map((i) => bot(e, `o${i}`, { code }));
    const calls = bots.flatMap((b, i) => Array.from({ length: 10 }, (_, k) => b.say(`${i}:${k}`)));
    const results = await Promise.all(calls);
    bots.forEach((_, i) => {
      const mine = results.slice(i * 10, i * 10 + 10);
      expect(mine.map((r) => [body(r)!.k, body(r)!.echo])).toEqual(Array.from({ length: 10 }, (_, k) => [k + 1, `${i}:${k}`]));
    });
  });

  test("beyond maxLivePerWorker the least recently used instance is evicted and reloads on use", async () => {
    const e = engineOn(pool({ workers: 1, maxLivePerWorker: 2 }), { isolateInline: false });
    const [a, b, c] = ["a", "b", "c"].map((id) => bot(e, id)) as [Bot, Bot, Bot];
    for (const x of [a, b, c]) await x.say("0");
    const ra = await a.say("1");
    expect(reloaded(ra)).toBe(true); // a was evicted when c loaded
    expect(body(ra)).toMatchObject({ n: 2, echo: "1" });
    expect(reloaded(await a.say("2"))).toBe(false);
    expect(reloaded(await c.say("1"))).toBe(false);
    expect(reloaded(await b.say("1"))).toBe(true);
  });
});

/** Two BigInt conversions back to back, ~3 s each on a free core: QuickJS never polls inside them. */
const NATIVE_HOG = `export default { onMessage(ctx, msg) {
  if (msg.body.text === "hog") (3n ** 600000n).toString() + (3n ** 600000n).toString();
  ctx.post("bot", { echo: msg.body.text });
} }`;

describe("workers of their own for inline code", () => {
  test("presets share the pool's workers; inline code gets a worker of its own, gone with its engine", async () => {
    const p = pool({ workers: 2 });
    const e = engineOn(p);
    await bot(e, "echo", { code: ECHO }).say("x");
    const inline = await bot(e, "inline").say("x");
    expect(p.load.reduce((a, b) => a + b)).toBe(1);
    expect(p.isolatedBots).toBe(1);
    expect(body(inline)).toMatchObject({ echo: "x", n: 1 });
    e.dispose();
    await Bun.sleep(0); // a bot is let go once its load has settled
    expect(p.isolatedBots).toBe(0);
    expect(p.warmBytes).toBe(0);
  });

  test("an inline bot stuck in a native call is killed alone: a preset and another inline bot answer meanwhile, neither reloads", async () => {
    const p = pool({ workers: 1 });
    const hog = bot(engineOn(p, { limits: { terminateMs: 500 } }), "hog", { code: NATIVE_HOG });
    const e = engineOn(p);
    const echo = bot(e, "echo", { code: ECHO });
    const other = bot(e, "other");
    for (const b of [hog, echo, other]) await b.say("warm");

    const order: string[] = [];
    const stuck = hog.say("hog").then((r) => (order.push("hog"), r));
    const during = await Promise.all([echo.say("during"), other.say("during")]);
    order.push("others");
    const jam = await stuck;
    expect(order).toEqual(["others", "hog"]);
    expect(reason(jam)).toBe("deadline");
    for (const r of during) {
      expect(r.ok).toBe(true);
      expect(reloaded(r)).toBe(false);
    }
    expect(body(during[1]!)).toMatchObject({ echo: "during", n: 2, loads: 1 });
    const back = await hog.say("fine");
    expect(reloaded(back)).toBe(true); // its own worker was replaced: its own channel records that
    expect(body(back)).toEqual({ echo: "fine" });
  }, 20_000);

  test("bots holding 20 MiB of module data (28 MiB of wasm memory) in 16 channels: the warm set stays within its memory bound; an evicted bot reloads at its next hook", async () => {
    const bound = 128 * 2 ** 20;
    const p = pool({ workers: 1, warmMemoryBytes: bound });
    const e = engineOn(p);
    await bot(e, "first", { code: ECHO }).say("warm"); // the engine and the shared worker, before the baseline
    const before = rss();
    const heavy: Bot[] = [];
    for (let i = 0; i < 16; i++) {
      const b = bot(e, `heavy${i}`, { code: HEAVY });
      const r = await b.say("hi");
      expect(r.ok).toBe(true);
      expect(body(r)).toEqual({ n: 20, echo: "hi" });
      heavy.push(b);
    }
    const growth = rss() - before;
    console.log(`16 bots of 28 MiB each under a ${bound / 2 ** 20} MiB bound: RSS grew ${(growth / 2 ** 20).toFixed(0)} MiB`);
    expect(growth).toBeLessThan(2 * bound);
    expect(p.warmBytes).toBeLessThanOrEqual(bound);
    const again = await heavy[0]!.say("again");
    expect(reloaded(again)).toBe(true);
    expect(body(again)).toEqual({ n: 20, echo: "again" });
    expect(reloaded(await heavy[15]!.say("again"))).toBe(false);
  }, 120_000);

  test("a hook that finds no room in the memory bound waits for a running one to end", async () => {
    // Room for one inline hook at its cap, not two.
    const p = pool({ workers: 1, warmMemoryBytes: 48 * 2 ** 20 });
    const hog = bot(engineOn(p, { limits: { terminateMs: 500 } }), "hog", { code: NATIVE_HOG });
    const other = bot(engineOn(p), "other");
    await hog.say("warm");
    await other.say("warm");
    const order: string[] = [];
    const stuck = hog.say("hog").then((r) => (order.push("hog"), r));
    await Bun.sleep(50);
    const waited = await other.say("after").then((r) => (order.push("other"), r));
    expect(reason(await stuck)).toBe("deadline");
    expect(order).toEqual(["hog", "other"]);
    expect(waited.ok).toBe(true);
    expect(reloaded(waited)).toBe(true); // let go to make room for the hog's hook
    expect(body(waited)).toMatchObject({ echo: "after", n: 2, loads: 1 }); // state kept, module variables anew
  }, 20_000);
});
