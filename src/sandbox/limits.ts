/**
 * What one bot may spend per hook: an instruction budget (deterministic, so a replay ends the same
 * way), a wall-clock backstop, a hard cap on memory, a small stack; bots/README.md lists them for
 * bot authors.
 *
 * The budget is counted in QuickJS interrupt-handler calls ("polls"), not in time: QuickJS calls the
 * handler after every ~10,000 operations (loop back-edges, calls, regex steps), and the number of calls
 * for a given workload is the same on every run (measured 211/211/211 on fresh runtimes). Host
 * functions add their own deterministic charge, because one call can cost far more than an operation.
 * Time only backs this up: the worker checks a deadline at each poll, and the main thread terminates
 * the worker when even that does not answer (a poll can be seconds apart: a native call runs to its
 * end between two, and a catch-and-retry recursion builds a backtrace at each overflow).
 */
import { AppError } from "../errors.ts";

export interface SandboxLimits {
  /**
   * Interrupt-handler calls per hook, ≈10k QuickJS operations each: 0.05 ms of empty loop, 0.4–1.5 ms of
   * object, string and regex work, more when native builtins (JSON, sort) do the work between polls.
   */
  budgetPolls: number;
  /** Wall-clock backstop checked inside the worker at each poll. Not replayable: logged as "deadline". */
  deadlineMs: number;
  /** The main thread terminates the worker when a hook has not answered after this long. */
  terminateMs: number;
  /** Hard cap on the bot's own wasm linear memory, in 64 KiB pages (≥ 256, the build's minimum). */
  memoryPages: number;
  /** QuickJS stack limit. Small on purpose: a catch-and-retry recursion pays for each overflow it builds. */
  stackBytes: number;
  /** Posts (post + postTo) per hook; one more is BOT_ERROR, never a silent truncation. */
  maxOutputs: number;
  /** UTF-8 bytes of one posted body's JSON. */
  maxBodyBytes: number;
  /** UTF-8 bytes of the JSON given to setState. */
  maxStateBytes: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  budgetPolls: 200,
  deadlineMs: 1_000,
  terminateMs: 3_000,
  memoryPages: 512, // 32 MiB
  stackBytes: 32 * 1024, // ≈180 JS frames; a catch-and-retry recursion builds a backtrace per overflow
  maxOutputs: 100,
  maxBodyBytes: 16 * 1024,
  maxStateBytes: 64 * 1024,
});

/** The wasm build declares 256 pages (16 MiB) as its minimum; a smaller Memory fails to link. */
export const MIN_MEMORY_PAGES = 256;
export const WASM_PAGE_BYTES = 64 * 1024;

/** Why a hook ended in BOT_ERROR. Every reason but "deadline" replays identically. */
export type BotErrorReason =
  | "load" // the source does not compile, imports something, or has no default export
  | "budget" // instruction budget spent
  | "memory" // wasm memory cap (or QuickJS allocation limit) reached
  | "stack" // stack overflow left uncaught
  | "deadline" // wall clock: the in-worker deadline or the main thread's terminate()
  | "outputs" // too many posts in one hook, or a body too large
  | "state" // setState over maxStateBytes
  | "exception" // the bot threw (or its hook's promise rejected or never settled)
  | "fetch"; // ctx.fetch of a URL whose response this hook was not given (message = the URL): fetch it and run again

export function resolveLimits(partial: Partial<SandboxLimits> = {}): SandboxLimits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new AppError("INVALID_REQUEST", `Invalid sandbox limit "${key}": ${value} is not a positive integer`);
    }
  }
  if (limits.memoryPages < MIN_MEMORY_PAGES || limits.memoryPages > 65_536) {
    throw new AppError("INVALID_REQUEST", `Invalid sandbox limit "memoryPages": ${limits.memoryPages} is outside ${MIN_MEMORY_PAGES}..65536`);
  }
  return limits;
}

/** Ticks per poll: QuickJS's JS_INTERRUPT_COUNTER_INIT, so a host charge reads as "operations". */
export const TICKS_PER_POLL = 10_000;

/**
 * One hook's meter. The interrupt handler and every host function report here; the first limit
 * broken is remembered ("fatal") and makes every later poll interrupt, so a bot cannot catch its way
 * past a limit: QuickJS's "interrupted" error is uncatchable.
 */
export class HookMeter {
  polls = 0;
  private ticks = 0;
  private deadline = 0;
  fatal: { reason: BotErrorReason; message: string } | null = null;

  constructor(
    private readonly limits: SandboxLimits,
    /** Memory byte length above which the instance counts as blown (it never shrinks). */
    readonly memoryHighWater: number,
    readonly memoryBytes: () => number,
  ) {}

  start(): void {
    this.polls = 0;
    this.ticks = 0;
    this.fatal = null;
    this.deadline = performance.now() + this.limits.deadlineMs;
  }

  /** The QuickJS interrupt handler: true stops the bot. */
  readonly onInterrupt = (): boolean => {
    this.polls++;
    this.ticks += TICKS_PER_POLL;
    return this.check();
  };

  /** Checks every limit now; true once one is broken. */
  check(): boolean {
    if (this.fatal) return true;
    if (this.ticks > this.limits.budgetPolls * TICKS_PER_POLL) this.fail("budget", `spent its budget of ${this.limits.budgetPolls} polls`);
    else if (this.memoryBytes() > this.memoryHighWater) this.fail("memory", "grew past its memory cap");
    else if (performance.now() > this.deadline) this.fail("deadline", `ran past the ${this.limits.deadlineMs} ms deadline`);
    return this.fatal !== null;
  }

  /** A host function's deterministic cost; throws into the bot once the budget is gone. */
  charge(ticks: number): void {
    this.ticks += ticks;
    if (this.ticks > this.limits.budgetPolls * TICKS_PER_POLL) this.fail("budget", `spent its budget of ${this.limits.budgetPolls} polls`);
    const fatal = this.fatal as HookMeter["fatal"];
    if (fatal) throw new Error(`BOT_ERROR: ${fatal.message}`);
  }

  /** Records the first limit broken; the next poll interrupts, whatever the bot catches. */
  fail(reason: BotErrorReason, message: string): void {
    this.fatal ??= { reason, message };
  }

  /** Budget used so far, in polls (host charges included), for reports and benches. */
  get used(): number {
    return this.ticks / TICKS_PER_POLL;
  }
}
