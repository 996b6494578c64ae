import type { UpstreamConfig } from "../config/index.ts";

/** What a reload did to the upstreams, by name. */
export interface ReloadSummary {
  added: string[];
  removed: string[];
  /** Their config changed: stopped, then started with the new one. */
  restarted: string[];
  /** Left running as they were (same process, same connection). */
  unchanged: string[];
}

/** Which of the running upstreams (name → config) a new list keeps, drops, restarts or adds. */
export function planReload(running: ReadonlyMap<string, UpstreamConfig>, next: readonly UpstreamConfig[]): ReloadSummary {
  const names = new Set(next.map((c) => c.name));
  const summary: ReloadSummary = { added: [], removed: [...running.keys()].filter((n) => !names.has(n)), restarted: [], unchanged: [] };
  for (const config of next) {
    const before = running.get(config.name);
    if (!before) summary.added.push(config.name);
    else if (canonical(before) === canonical(config)) summary.unchanged.push(config.name);
    else summary.restarted.push(config.name);
  }
  return summary;
}

/** JSON with object keys sorted: headers written in another order are the same config. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
