import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BotPool, createBotRunner, type BotRunner, type BotRunnerOptions, type HookResult } from "../../../src/sandbox/index.ts";

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
const SLOTS = [{ slot_id: "s0", label: "invite:a" }];
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
const open: BotRunner[] = [];
afterEach(() => {
  for (const r of open.splice(0)) r.dispose();
  for (const p of pools.splice(0)) p.dispose();
});
function pool(options: ConstructorParameters<typeof BotPool>[0]): BotPool {
  const p = new BotPool(options);
  pools.push(p);
  return p;
}
async function start(options: Partial<BotRunnerOptions>): Promise<BotRunner> {
  const runner = await createBotRunner({ code: COUNTER, botId: "b", seed: "ab".repeat(32), slots: SLOTS, ...options });
  open.push(runner);
  return runner;
}
const say = (r: BotRunner, text: string, seq?: number, state?: unknown) => r.runHook({ hook: "onMessage", now: T0, msg: user(text), seq, state });
const body = (r: HookResult) => r.outputs[0]?.body;
const seedOf = (i: number) => i.toString(16).padStart(2, "0").repeat(32);

describe("shared workers hosting many bots", () => {
  test("200 bots live at once on 2 workers: bounded RSS, every bot answers for itself", async () => {
    const p = pool({ workers: 2 });
    const bots: BotRunner[] = [];
    const first = await start({ code: ECHO, pool: p }); // the workers and the engine, before the baseline
    await say(first, "warm");
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 200; i++) bots.push(await start({ code: ECHO, botId: `echo${i}`, pool: p }));
    const replies = await Promise.all(bots.map((b, i) => say(b, `hello ${i}`)));
    Bun.gc(true);
    const perBot = (process.memoryUsage().rss - before) / 200;
    console.log(`RSS growth per live bot: ${(perBot / 1024).toFixed(0)} KiB (load per worker ${p.load.join("/")})`);
    expect(p.load).toEqual([101, 100]);
    expect(perBot).toBeLessThan(1024 * 1024);
    replies.forEach((r, i) => expect(body(r)).toEqual({ echo: `hello ${i}`, from: "s0", n: 1 }));
    // Still live: the second hook is warm everywhere and counts on.
    const again = await Promise.all(bots.map((b, i) => say(b, `again ${i}`)));
    again.forEach((r, i) => {
      expect(r.reloaded).toBe(false);
      expect(body(r)).toEqual({ echo: `again ${i}`, from: "s0", n: 2 });
    });
  }, 60_000);

  test("a stuck hook kills its shared worker: only that hook fails; co-hosted bots answer exactly as alone", async () => {
    const limits = { budgetPolls: 1e9, deadlineMs: 60_000, terminateMs: 300 };
    const shared = pool({ workers: 1 });
    const stuck = await start({ pool: shared, limits, botId: "stuck", isolated: false });
    const others = await Promise.all([1, 2, 3].map((i) => start({ pool: shared, botId: `b${i}`, seed: seedOf(i), isolated: false })));
    // References: the same bots, alone on their own pool.
    const alone = pool({ workers: 1 });
    const refs = await Promise.all([1, 2, 3].map((i) => start({ pool: alone, botId: `b${i}`, seed: seedOf(i), isolated: false })));
    const expected = await Promise.all(refs.map((r) => say(r, "x", 1)));
    const expectedNext = await Promise.all(refs.map((r, i) => say(r, "y", 2, expected[i]!.state)));

    // The stuck hook goes first; the others' hooks were already submitted behind it.
    const started = performance.now();
    const [jam, ...during] = await Promise.all([say(stuck, "stick"), ...others.map((r) => say(r, "x", 1))]);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(jam.error?.detail?.reason).toBe("deadline");
    expect(jam.outputs).toEqual([]);
    during.forEach((r, i) => {
      expect(r.error).toBeUndefined();
      expect(r.reloaded).toBe(true); // on the fresh worker
      expect({ ...body(r), loads: 0 }).toEqual({ ...body(expected[i]!), loads: 0 });
      expect(r.state).toEqual(expected[i]!.state);
    });
    // Right after: warm again, the same answers as alone; the stuck bot answers too.
    const next = await Promise.all(others.map((r, i) => say(r, "y", 2, during[i]!.state)));
    next.forEach((r, i) => {
      expect(r.reloaded).toBe(false);
      expect(r.outputs).toEqual(expectedNext[i]!.outputs);
    });
    const recovered = await say(stuck, "fine");
    expect(recovered.error).toBeUndefined();
    expect(body(recovered)).toMatchObject({ echo: "fine", n: 1 });
  }, 20_000);

  test("a memory bomb drops only the bomber's instance; co-hosted bots keep theirs", async () => {
    const shared = pool({ workers: 1 });
    const bomber = await start({ pool: shared, botId: "bomber", isolated: false });
    const other = await start({ pool: shared, botId: "other", isolated: false });
    await say(other, "a");
    const [bomb, during] = await Promise.all([say(bomber, "bomb"), say(other, "b")]);
    expect(bomb.error?.detail?.reason).toBe("memory");
    expect(during.error).toBeUndefined();
    expect(during.reloaded).toBe(false);
    expect(body(during)).toMatchObject({ n: 2, echo: "b", loads: 1 });
    expect((await say(other, "c")).reloaded).toBe(false);
    const after = await say(bomber, "ok");
    expect(after.reloaded).toBe(true);
    expect(body(after)).toMatchObject({ n: 1, echo: "ok", loads: 1 });
  }, 20_000);

  test("hooks of many bots interleave on one worker; each bot's stay in order", async () => {
    const shared = pool({ workers: 1 });
    const bots = await Promise.all([0, 1, 2, 3].map((i) => start({ pool: shared, botId: `o${i}`, isolated: false })));
    const calls = bots.flatMap((b, i) => Array.from({ length: 10 }, (_, k) => say(b, `${i}:${k}`)));
    const results = await Promise.all(calls);
    bots.forEach((_, i) => {
      const mine = results.slice(i * 10, i * 10 + 10);
      expect(mine.map((r) => [r.seq, body(r)!.n, body(r)!.echo])).toEqual(Array.from({ length: 10 }, (_, k) => [k + 1, k + 1, `${i}:${k}`]));
    });
  });

  test("beyond maxLivePerWorker the least recently used instance is evicted and reloads on use", async () => {
    const small = pool({ workers: 1, maxLivePerWorker: 2 });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((id) => start({ pool: small, botId: id, isolated: false })));
    const ra = await say(a!, "1");
    expect(ra.reloaded).toBe(true); // a was evicted when c loaded
    expect(body(ra)).toMatchObject({ n: 1, echo: "1" });
    expect((await say(a!, "2", undefined)).reloaded).toBe(false);
    expect((await say(c!, "1")).reloaded).toBe(false);
    expect((await say(b!, "1")).reloaded).toBe(true);
  });
});

/** Two BigInt conversions back to back, ~3 s each on a free core: QuickJS never polls inside them. */
const NATIVE_HOG = `export default { onMessage(ctx, msg) {
  if (msg.body.text === "hog") (3n ** 600000n).toString() + (3n ** 600000n).toString();
  ctx.post("bot", { echo: msg.body.text });
} }`;

describe("workers of their own for inline code", () => {
  test("presets share the pool's workers; inline code gets a worker of its own, gone with its runner", async () => {
    const p = pool({ workers: 2 });
    const echo = await start({ code: ECHO, pool: p, botId: "echo" });
    const inline = await start({ pool: p, botId: "inline" });
    expect(p.load.reduce((a, b) => a + b)).toBe(1);
    expect(p.isolatedBots).toBe(1);
    expect(body(await say(inline, "x"))).toMatchObject({ echo: "x", n: 1 });
    inline.dispose();
    echo.dispose();
    expect(p.isolatedBots).toBe(0);
    expect(p.warmBytes).toBe(0);
  });

  test("an inline bot stuck in a native call is killed alone: a preset and another inline bot answer meanwhile, neither reloads", async () => {
    const p = pool({ workers: 1 });
    const hog = await start({ code: NATIVE_HOG, pool: p, botId: "hog", limits: { terminateMs: 500 } });
    const echo = await start({ code: ECHO, pool: p, botId: "echo" });
    const other = await start({ pool: p, botId: "other" });
    await Promise.all([say(hog, "warm"), say(echo, "warm"), say(other, "warm")]);

    const order: string[] = [];
    const stuck = say(hog, "hog").then((r) => (order.push("hog"), r));
    const during = await Promise.all([say(echo, "during"), say(other, "during")]);
    order.push("others");
    const jam = await stuck;
    expect(order).toEqual(["others", "hog"]);
    expect(jam.error?.detail?.reason).toBe("deadline");
    for (const r of during) {
      expect(r.error).toBeUndefined();
      expect(r.reloaded).toBe(false);
    }
    expect(body(during[1]!)).toMatchObject({ echo: "during", n: 2, loads: 1 });
    const back = await say(hog, "fine");
    expect(back.reloaded).toBe(true); // its own worker was replaced: its own channel records that
    expect(body(back)).toEqual({ echo: "fine" });
  }, 20_000);

  test("bots holding 20 MiB of module data (28 MiB of wasm memory) in 16 channels: the warm set stays within its memory bound; an evicted bot reloads at its next hook", async () => {
    const bound = 128 * 2 ** 20;
    const p = pool({ workers: 1, warmMemoryBytes: bound });
    await say(await start({ code: ECHO, pool: p, botId: "first" }), "warm"); // the engine and the shared worker, before the baseline
    const before = rss();
    const heavy: BotRunner[] = [];
    for (let i = 0; i < 16; i++) {
      const b = await start({ code: HEAVY, pool: p, botId: `heavy${i}` });
      const r = await say(b, "hi");
      expect(r.error).toBeUndefined();
      expect(body(r)).toEqual({ n: 20, echo: "hi" });
      heavy.push(b);
    }
    const growth = rss() - before;
    console.log(`16 bots of 28 MiB each under a ${bound / 2 ** 20} MiB bound: RSS grew ${(growth / 2 ** 20).toFixed(0)} MiB`);
    expect(growth).toBeLessThan(2 * bound);
    expect(p.warmBytes).toBeLessThanOrEqual(bound);
    const again = await say(heavy[0]!, "again");
    expect(again.reloaded).toBe(true);
    expect(body(again)).toEqual({ n: 20, echo: "again" });
    expect((await say(heavy[15]!, "again")).reloaded).toBe(false);
  }, 120_000);

  test("a hook that finds no room in the memory bound waits for a running one to end", async () => {
    // Room for one inline hook at its cap, not two.
    const p = pool({ workers: 1, warmMemoryBytes: 48 * 2 ** 20 });
    const hog = await start({ code: NATIVE_HOG, pool: p, botId: "hog", limits: { terminateMs: 500 } });
    const other = await start({ pool: p, botId: "other" });
    await say(other, "warm");
    const order: string[] = [];
    const stuck = say(hog, "hog").then((r) => (order.push("hog"), r));
    await Bun.sleep(50);
    const waited = await say(other, "after").then((r) => (order.push("other"), r));
    expect((await stuck).error?.detail?.reason).toBe("deadline");
    expect(order).toEqual(["hog", "other"]);
    expect(waited.error).toBeUndefined();
    expect(waited.reloaded).toBe(true); // let go to make room for the hog's hook
    expect(body(waited)).toMatchObject({ echo: "after", n: 2, loads: 1 }); // state kept, module variables anew
  }, 20_000);
});
