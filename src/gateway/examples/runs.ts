import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../errors.ts";

/** What the run tools share: a cap on runs at once, the error a broken limit gives, finding executables. */

/**
 * At most `max` runs of one tool at once: each holds processes, memory and seconds of CPU, and a
 * queue would only make callers wait behind minutes of others. One more is RATE_LIMITED at once.
 */
export class RunGate {
  private running = 0;

  constructor(
    private readonly tool: string,
    readonly max: number,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) {
      throw new AppError("RATE_LIMITED", `${this.tool}: ${this.max} runs are in progress, the most at once; try again when one has ended`);
    }
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
    }
  }
}

/** Which limit a run broke, in structuredContent.error.detail.limit. */
export type LimitName = "time" | "output" | "memory" | "processes" | "file" | "budget" | "stack";

/**
 * A run stopped at one of the tool's limits: INVALID_REQUEST (the request asked for more than the
 * tool gives), with the limit named in `detail.limit` for programs.
 */
export function limitExceeded(limit: LimitName, message: string, detail: Record<string, unknown> = {}): AppError {
  return new AppError("INVALID_REQUEST", message, { detail: { limit, ...detail } });
}

/** Where executables are looked for when the environment has no PATH (as execvp's default, with /usr/local). */
export const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

/** Every `name` on the search path that this process may execute, in order. */
export function executablesOnPath(name: string, path: string | undefined): string[] {
  const found: string[] = [];
  for (const dir of (path || DEFAULT_PATH).split(":")) {
    if (!dir.startsWith("/")) continue; // a relative PATH entry would depend on the run's working directory
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (!found.includes(file)) found.push(file);
    } catch {
      // not there, or not executable
    }
  }
  return found;
}
