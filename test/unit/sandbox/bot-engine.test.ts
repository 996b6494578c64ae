import { afterAll, describe, expect, test } from "bun:test";
import { SandboxEngine } from "../../../src/sandbox/index.ts";
import { INITIAL_STATE, type BotProgram, type FetchRecord, type HookCall } from "../../../src/transcript/index.ts";

const T0 = "2025-03-01T12:00:00.000Z";
const engines: SandboxEngine[] = [];
afterAll(() => {
  for (const e of engines) e.dispose();
});
function engine(fetcher?: (url: string) => Promise<FetchRecord>): SandboxEngine {
  const e = new SandboxEngine(undefined, fetcher);
  engines.push(e);
  return e;
}
const program = (code: string, botId = `b${engines.length}`): BotProgram => ({ botId, code, params: {}, seed: "c3".repeat(32), slots: [] });
const message = (id: number): HookCall => ({ hook: "onMessage", args: [{ id, kind: "user", sender: "s0", body: { text: "hi" }, ts: T0, to_slot: null }], now: T0, state: INITIAL_STATE, entropy: String(id) });

describe("SandboxEngine: what a bot keeps between hooks is reproducible", () => {
  const COUNTER = "let seen = 0; export default { onMessage(ctx) { seen++; ctx.post('bot', { seen }); } };";

  test("a new bot and `fresh: true` evaluate the module anew (reported as fresh); a warm hook keeps module variables", async () => {
    const e = engine();
    const p = program(COUNTER);
    const runs = [];
    for (const [id, fresh] of [[1, false], [2, false], [3, true], [4, false]] as const) runs.push(await e.run(p, { ...message(id), fresh }));
    expect(runs.map((r) => (r.ok ? r.outputs[0]!.body.seen : r.message))).toEqual([1, 2, 1, 2]);
    expect(runs.map((r) => r.fresh === true)).toEqual([true, false, true, false]);
  });

  test("a hook that fetches makes the same attempts live (fetcher) and in a replay (recorded fetches), with the same module variables", async () => {
    const code = `let attempts = 0;
      export default { onMessage(ctx) {
        attempts++;
        const a = ctx.fetch("https://api.example/a"), b = ctx.fetch("https://api.example/b");
        ctx.post("bot", { attempts, got: a.body + b.body });
      } };`;
    const fetched: string[] = [];
    const live = engine(async (url) => {
      fetched.push(url);
      return { url, status: 200, body: url.slice(-1) };
    });
    const replay = engine();
    const p = program(code, "fetcher");
    const liveRuns = [await live.run(p, message(1)), await live.run(p, message(2))];
    // Each URL fetched once per hook; the hook ran three times (stopped at a, at b, then done), and
    // each stop ended its instance, so the last attempt counted from a fresh module.
    expect(fetched).toEqual(["https://api.example/a", "https://api.example/b", "https://api.example/a", "https://api.example/b"]);
    expect(liveRuns.map((r) => r.ok && r.outputs[0]!.body)).toEqual([{ attempts: 1, got: "ab" }, { attempts: 1, got: "ab" }]);
    const replayRuns = [];
    for (const [i, r] of liveRuns.entries()) replayRuns.push(await replay.run(p, { ...message(i + 1), fetches: r.fetches }));
    expect(replayRuns.map((r) => r.ok && r.outputs)).toEqual(liveRuns.map((r) => r.ok && r.outputs));
    expect(replayRuns[0]!.fetches).toEqual(liveRuns[0]!.fetches!);
    // A replay without the record cannot invent the response.
    const bare = await engine().run(program(code, "fetcher"), message(1));
    expect(bare).toMatchObject({ ok: false, reason: "fetch", message: "ctx.fetch https://api.example/a has no recorded response" });
  });
});

describe("SandboxEngine: a module that does not load says where, in the bot's own source", () => {
  const loadFailure = async (code: string) => {
    try {
      await engine().manifestOf(code);
    } catch (err) {
      return err as { code: string; detail: { reason: string; cause: string } };
    }
    throw new Error("expected the module not to load");
  };

  test("a syntax error: its line and column (no prelude shifts them), no internal file name", async () => {
    const err = await loadFailure("export default {\n  onInit(ctx) {\n    ctx.post('bot', {}\n  },\n};");
    expect(err.code).toBe("BOT_ERROR");
    expect(err.detail).toMatchObject({ reason: "load", cause: "SyntaxError at line 4, column 3: expecting ','" });
    expect((await loadFailure("\n\n   let = ;\nexport default {};")).detail.cause).toStartWith("SyntaxError at line 3, column ");
  });

  test("an exception thrown by top-level code: the innermost place in the bot's source", async () => {
    const code = "function check(n) {\n  if (n > 0) throw new RangeError('too many: ' + n);\n}\ncheck(3);\nexport default {};";
    const err = await loadFailure(code);
    expect(err.detail.cause).toMatch(/^RangeError at line 2, column \d+: too many: 3$/);
    expect(err.detail.cause).not.toContain("bot.js");
  });
});

describe("SandboxEngine: the state is JSON text end to end", () => {
  const PEEK = `export default { onMessage(ctx, msg) {
    const s = ctx.getState();
    if (msg.body.text === "set") ctx.setState({ n: s.n + 1, word: "é😀" });
    ctx.post("bot", { type: typeof s, n: s?.n ?? null });
  } };`;

  test("the bot reads the text it is given as its state; a hook that sets none hands the same text back, byte for byte", async () => {
    const e = engine();
    const given = '{ "n" : 41 }';
    const r = await e.run(program(PEEK), { ...message(1), state: given });
    expect(r.ok && r.outputs[0]!.body).toEqual({ type: "object", n: 41 });
    expect(r.ok && r.state).toBe(given);
  });

  test("setState comes back as the JSON text the bot's JSON.stringify made, never parsed on the way", async () => {
    const e = engine();
    const hi = { ...message(1), args: [{ id: 1, kind: "user", sender: "s0", body: { text: "set" }, ts: T0, to_slot: null }] };
    const r = await e.run(program(PEEK), { ...hi, state: '{"n":1}' });
    expect(r.ok && r.state).toBe('{"n":2,"word":"é😀"}');
  });
});
