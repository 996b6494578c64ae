import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { AppError } from "../errors.ts";

/** Progress notifications handed on to a caller at once, then per second (see rateLimitedProgress). */
const PROGRESS_BURST = 100;
const PROGRESS_PER_SECOND = 50;

/**
 * The calls in progress to one upstream: at most `max` (its max_calls_in_flight), one caller at
 * most half of them, so a hung upstream holds a bounded number of calls and one caller cannot
 * take them all. One more is RATE_LIMITED at once.
 */
export class CallSlots {
  private inFlight = 0;
  /** Calls in progress per caller (entries removed at zero). */
  private readonly byCaller = new Map<string, number>();

  constructor(
    private readonly server: string,
    private readonly max: () => number,
  ) {}

  /** Takes a slot for `caller` (undefined: counted in the total only), or throws RATE_LIMITED. */
  take(caller: string | undefined): void {
    const max = this.max();
    if (this.inFlight >= max) {
      throw new AppError("RATE_LIMITED", `Upstream "${this.server}" has ${this.inFlight} calls in progress, its most at once (max_calls_in_flight); try again when one has ended`);
    }
    const mine = caller === undefined ? 0 : (this.byCaller.get(caller) ?? 0);
    if (mine >= Math.ceil(max / 2)) {
      throw new AppError("RATE_LIMITED", `You have ${mine} calls in progress to upstream "${this.server}", half of its max_calls_in_flight (the most one caller may hold); try again when one has ended`);
    }
    this.inFlight++;
    if (caller !== undefined) this.byCaller.set(caller, mine + 1);
  }

  release(caller: string | undefined): void {
    this.inFlight--;
    if (caller === undefined) return;
    const left = this.byCaller.get(caller)! - 1;
    if (left === 0) this.byCaller.delete(caller);
    else this.byCaller.set(caller, left);
  }
}

/**
 * Progress handed on to the caller at most PROGRESS_BURST at once and PROGRESS_PER_SECOND after
 * (the rest dropped): each costs a message to the caller's session, and an upstream could send
 * any number. MCP (basic/utilities/progress): "Both parties SHOULD implement rate limiting to
 * prevent flooding."
 */
export function rateLimitedProgress(onprogress: (progress: Progress) => void): (progress: Progress) => void {
  let tokens = PROGRESS_BURST;
  let at = performance.now();
  return (progress) => {
    const now = performance.now();
    tokens = Math.min(PROGRESS_BURST, tokens + ((now - at) * PROGRESS_PER_SECOND) / 1000);
    at = now;
    if (tokens < 1) return;
    tokens--;
    onprogress(progress);
  };
}
