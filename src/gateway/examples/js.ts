import { randomBytes } from "node:crypto";
import { AppError } from "../../errors.ts";
import { BotPool, DEFAULT_LIMITS, SandboxEngine } from "../../sandbox/index.ts";
import { limitExceeded, RunGate, type LimitName } from "./runs.ts";

/**
 * run_js_code in the bots' own sandbox (src/sandbox): the code runs as the onInit hook of a
 * one-off bot module, on a QuickJS instance of its own with a bot's limits (the instruction
 * budget, 32 MiB of memory, the stack, the deadlines), on a thread of its own that is terminated
 * when a native call outlasts them. No second sandbox: the same engine, realm and limits.
 */
export const JS_LIMITS = {
  codeBytes: 64 * 1024,
  /** Characters of console output kept; more is INVALID_REQUEST (limit "output"). */
  outputChars: 64 * 1024,
  /** Characters of the value's text kept (a longer one is cut, and says so). */
  valueChars: 64 * 1024,
  concurrent: 4,
} as const;

/**
 * The one-off bot. The code is evaluated by a direct eval inside `run`, whose scope holds only
 * `console`: its completion value is the result, and `ctx` is out of its reach. A bot module is
 * strict code, so the code is too. The result goes out as one post (the sandbox's limits on posts
 * apply; its body cap is raised to fit the output caps above).
 */
function botModule(code: string): string {
  return `const SOURCE = ${JSON.stringify(code)};
const MAX_OUTPUT = ${JS_LIMITS.outputChars}, MAX_VALUE = ${JS_LIMITS.valueChars};
function show(v) {
  if (typeof v === "string") return v;
  try { const json = JSON.stringify(v); if (json !== undefined) return json; } catch {}
  try { return String(v); } catch { return Object.prototype.toString.call(v); }
}
function run(console) { return eval(SOURCE); }
export default {
  onInit(ctx) {
    const lines = [];
    let chars = 0, overflow = false;
    // Past the cap every write throws, so a flood stops at once instead of at the time limit.
    const write = (...args) => {
      if (!overflow) {
        const line = args.map(show).join(" ");
        chars += line.length + 1;
        if (chars <= MAX_OUTPUT) return void lines.push(line);
        overflow = true;
      }
      throw new RangeError("console output past " + MAX_OUTPUT + " characters");
    };
    const console = Object.freeze({ log: write, info: write, warn: write, error: write, debug: write });
    let out;
    try {
      const value = show(run(console));
      out = value.length > MAX_VALUE ? { value: value.slice(0, MAX_VALUE), value_truncated: true } : { value };
    } catch (e) {
      out = { error: show(e instanceof Error ? e.name + ": " + e.message : e) };
    }
    ctx.post("bot", { ...out, output: lines.join("\\n"), overflow });
  },
};
`;
}

/** Post bodies: the output and the value at their caps, JSON-escaped at worst (a control character is 6). */
const RESULT_BODY_BYTES = 6 * (JS_LIMITS.outputChars + JS_LIMITS.valueChars) + 1024;

export interface JsResult {
  /** The completion value as text: a string as is, anything else as JSON (or String() when not JSON). */
  value?: string;
  value_truncated?: true;
  /** What the code threw, `Name: message`; `value` is absent then. */
  error?: string;
  /** console.log/info/warn/error/debug lines. */
  output: string;
}

export class JsRunner {
  private readonly gate = new RunGate("run_js_code", JS_LIMITS.concurrent);
  private readonly pool = new BotPool({ workers: 1 });
  private sequence = 0;

  run(code: string): Promise<JsResult> {
    return this.gate.run(() => this.runNow(code));
  }

  private async runNow(code: string): Promise<JsResult> {
    // One engine per call, disposed after: the bot's thread and instance go with it.
    const engine = new SandboxEngine(this.pool, undefined, 1, { limits: { maxBodyBytes: RESULT_BODY_BYTES } });
    try {
      const result = await engine.run(
        { botId: `js-${++this.sequence}`, code: botModule(code), params: {}, seed: randomBytes(32).toString("hex"), slots: [] },
        { hook: "onInit", args: [], now: new Date().toISOString(), state: "null", entropy: "1" },
      );
      if (!result.ok) throw failure(result.reason, result.message);
      const body = result.outputs[0]?.body as (JsResult & { overflow: boolean }) | undefined;
      if (!body) throw new AppError("INTERNAL_ERROR", "run_js_code: the sandbox answered nothing");
      if (body.overflow) throw limitExceeded("output", `The code wrote more than ${JS_LIMITS.outputChars / 1024} Ki characters of console output`);
      const { overflow: _, ...answer } = body;
      return answer;
    } finally {
      engine.dispose();
    }
  }

  dispose(): void {
    this.pool.dispose();
  }
}

/** A broken sandbox limit as the tool's error (the engine's own words say which, e.g. "spent its budget of 200 polls"). */
function failure(reason: string, message: string): AppError {
  const what = message.replace(/^Bot "[^"]*" failed in \w+ \([a-z]+\): /, "");
  const limit: Record<string, LimitName> = { budget: "budget", memory: "memory", stack: "stack", deadline: "time", outputs: "output" };
  const name = limit[reason];
  if (name) return limitExceeded(name, `The code stopped at a sandbox limit (${reason}): it ${what}`, { reason });
  // "load": a module that does not compile is a syntax error in the code, which eval reports as a thrown
  // error instead; anything else here is the wrapper's or the sandbox's failure.
  return new AppError("INTERNAL_ERROR", `run_js_code failed in the sandbox (${reason}): ${what}`);
}

export const JS_SANDBOX = {
  budgetPolls: DEFAULT_LIMITS.budgetPolls,
  memoryMiB: (DEFAULT_LIMITS.memoryPages * 64) / 1024,
  stackKiB: DEFAULT_LIMITS.stackBytes / 1024,
  deadlineMs: DEFAULT_LIMITS.deadlineMs,
  terminateMs: DEFAULT_LIMITS.terminateMs,
};
