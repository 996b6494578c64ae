import type { ToolSet } from "./catalog.ts";
import type { Upstream, UpstreamState } from "./upstream.ts";

/** One upstream as `parley status` shows it. */
export interface UpstreamStatus {
  name: string;
  transport: "stdio" | "http";
  state: UpstreamState;
  /** When it entered this state (ISO 8601). */
  since: string;
  /** While down: when it is tried again. */
  retry_at: string | null;
  /** While down: why. */
  error: string | null;
  /** Tools it exposes now (held ones not counted). */
  tools: number;
  /** Tools held back (not listed, calls refused), each with why: a changed definition, the pin limit. */
  held: { tool: string; reason: string }[];
  skipped: ToolSet["skipped"];
  shortened: ToolSet["shortened"];
  restarts: number;
  pid: number | null;
  /** Up, but it answered tools/list with no tools after having had some. */
  emptied: boolean;
}

/** An upstream's state, tools (as exposed: `set`) and restarts, as `parley status` prints them. */
export function upstreamStatus(u: Upstream, set: ToolSet | undefined): UpstreamStatus {
  const listed = set?.tools.filter((t) => !t.held) ?? [];
  return {
    name: u.name,
    transport: u.kind,
    state: u.state,
    since: new Date(u.since).toISOString(),
    retry_at: u.retryAt === null ? null : new Date(u.retryAt).toISOString(),
    error: u.state === "down" ? u.lastError : null,
    tools: listed.length,
    held: set?.tools.flatMap((t) => (t.held ? [{ tool: t.name, reason: t.held }] : [])) ?? [],
    skipped: set?.skipped ?? [],
    shortened: set?.shortened ?? [],
    restarts: u.restarts,
    pid: u.pid,
    emptied: u.emptied,
  };
}
