import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { exposedName } from "./names.ts";

/** One upstream tool as callers see it. */
export interface ExposedTool {
  /** `SERVER_TOOL` (or its shortened form). */
  name: string;
  /** The upstream's own name for it. */
  upstreamName: string;
  /** Its definition as the upstream gave it (description, schemas, annotations, …) under the exposed name. */
  definition: Tool;
  /** Why it is held back (pinning), if it is: not listed, and calls are refused. */
  held?: string;
}

export interface ToolSet {
  tools: ExposedTool[];
  /** Tools not exposed at all, with why. */
  skipped: { tool: string; reason: string }[];
  /** Tools exposed under a shortened name. */
  shortened: { tool: string; name: string }[];
}

/**
 * An upstream's listed tools as exposed: named `SERVER_TOOL` (names.ts), everything else of each
 * definition passed through untouched. A tool is skipped when its name cannot be exposed, when it
 * would take a built-in tool's name (`reserved`) or one already taken (an upstream listing a name
 * twice, or two long names cut to the same prefix and hash).
 */
export function exposeTools(server: string, tools: readonly Tool[], held: ReadonlyMap<string, string>, reserved: ReadonlySet<string>): ToolSet {
  const out: ToolSet = { tools: [], skipped: [], shortened: [] };
  const taken = new Set<string>();
  // A name is reported (status, log) at most this long: an upstream's names are not ours to trust.
  const shown = (name: string) => (name.length > 128 ? `${name.slice(0, 128)}…` : name);
  for (const tool of tools) {
    const exposed = exposedName(server, tool.name);
    if ("skipped" in exposed) {
      out.skipped.push({ tool: shown(tool.name), reason: exposed.skipped });
      continue;
    }
    if (reserved.has(exposed.name)) {
      out.skipped.push({ tool: shown(tool.name), reason: `${exposed.name} is a built-in tool` });
      continue;
    }
    if (taken.has(exposed.name)) {
      out.skipped.push({ tool: shown(tool.name), reason: `${exposed.name} is taken by another tool of this upstream` });
      continue;
    }
    taken.add(exposed.name);
    if (exposed.shortened) out.shortened.push({ tool: shown(tool.name), name: exposed.name });
    const reason = held.get(tool.name);
    out.tools.push({ name: exposed.name, upstreamName: tool.name, definition: { ...tool, name: exposed.name }, ...(reason === undefined ? {} : { held: reason }) });
  }
  return out;
}
