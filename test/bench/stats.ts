/** Small statistics helpers shared by the bench scripts. */
export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile (p in 0..100) of an unsorted sample. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export interface ClosedLoop {
  /** Calls that succeeded within the measured window, and how many in all (warm-up included). */
  requests: number;
  total: number;
  /** Calls that failed within the window. */
  failed: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  firstError?: string;
}

/**
 * Runs each caller in a closed loop (its next call when its last answered) for warm-up + duration;
 * counts and times the calls that started after the warm-up and ended inside the window. A caller
 * resolves to whether its call succeeded, or to the text of what was wrong.
 */
export async function closedLoop(callers: (() => Promise<true | string>)[], job: { warmupMs: number; durationMs: number }): Promise<ClosedLoop> {
  const errors: string[] = [];
  const measureFrom = performance.now() + job.warmupMs;
  const end = measureFrom + job.durationMs;
  let requests = 0;
  let total = 0;
  let failed = 0;
  const latencies: number[] = [];
  await Promise.all(
    callers.map(async (call) => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        let outcome: true | string;
        try {
          outcome = await call();
        } catch (err) {
          outcome = String(err);
        }
        if (outcome !== true) errors.push(outcome);
        const t1 = performance.now();
        total++;
        if (t0 >= measureFrom && t1 <= end) {
          if (outcome === true) requests++;
          else failed++;
          latencies.push(t1 - t0);
        }
      }
    }),
  );
  return {
    requests,
    total,
    failed,
    rate: requests / (job.durationMs / 1000),
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
    ...(errors.length ? { firstError: errors[0] } : {}),
  };
}

/** A results table in Markdown, its columns padded, one line per row. */
export function printTable(rows: string[][], log: (line: string) => void): void {
  const header = ["measurement", "median", "rounds / detail", "target", "result"];
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  log("");
  log(line(header));
  log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) log(line(r));
  log("");
}
