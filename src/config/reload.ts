import type { Config } from "./schema.ts";

/** The keys a reload applies to the running server (SIGHUP, or the config file changed). */
export const LIVE_KEYS: readonly (keyof Config)[] = ["upstream", "default_servers"];

/** Keys whose value differs between the config a server started with and a new one, other than LIVE_KEYS: they take a restart. */
export function keysNeedingRestart(running: Config, next: Config): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)] as (keyof Config)[]);
  return [...keys].filter((key) => !LIVE_KEYS.includes(key) && JSON.stringify(running[key]) !== JSON.stringify(next[key])).sort();
}
