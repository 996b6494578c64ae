import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { AppError, type ErrorCode } from "../errors.ts";
import { log } from "../lib/log.ts";
import type { AuditLog } from "./audit.ts";
import type { ToolPins } from "./pins.ts";

/** One upstream call as the audit log records it: never argument or result values, only their sizes. */
export interface CallRecord {
  /** When the call started (epoch ms). */
  at: number;
  /** The caller's subject (`usr_…`, `agent:NAME`), or `session:…` without auth. */
  caller: string;
  server: string;
  /** The name the caller used (`battle_echo`). */
  tool: string;
  /** The upstream's own name for it (`echo`; a resource's URI). */
  upstreamTool: string;
  /** What was forwarded: a tool call, a resource read, a prompt. */
  method: "tools/call" | "resources/read" | "prompts/get";
  ms: number;
  /** `ok`, `tool_error` (the upstream answered isError), or the code the caller got. */
  outcome: "ok" | "tool_error" | ErrorCode;
  /** UTF-8 bytes of the arguments' JSON and of the result's JSON (0 when there was none). */
  argBytes: number;
  resultBytes: number;
}

/**
 * Where tool-definition pinning and the audit log plug into the gateway: the listing path calls
 * `reviewTools` with every tools/list an upstream answers (catalog.ts, through Gateway), the call
 * path calls `recordCall` once per call that reached the point of being routed to an upstream,
 * whatever its outcome (gateway.ts, `Gateway.call`). Both default to doing nothing.
 */
export interface GatewayHooks {
  /**
   * The tools of `server` to hold back (not listed; calls refused with the reason), by the
   * upstream's own tool name. Called each time the upstream lists its tools.
   */
  reviewTools(server: string, tools: readonly Tool[]): Promise<ReadonlyMap<string, string>> | ReadonlyMap<string, string>;
  recordCall(record: CallRecord): void | Promise<void>;
}

const NOTHING_HELD: ReadonlyMap<string, string> = new Map();

export const NO_HOOKS: GatewayHooks = {
  reviewTools: () => NOTHING_HELD,
  recordCall: () => {},
};

/**
 * The product's hooks: each listed tool checked against its pinned definition (a changed one is
 * held back until `parley upstream approve`), each call recorded in the audit log.
 */
export function pinAndAuditHooks(pins: ToolPins, audit: AuditLog): GatewayHooks {
  return {
    reviewTools(server, tools) {
      const held = new Map<string, string>();
      for (const tool of tools) {
        const check = pins.check(server, tool);
        if (check.state === "refused") held.set(tool.name, check.reason);
        else if (check.state === "held") held.set(tool.name, `its definition changed since it was pinned (${check.pinnedHash.slice(0, 12)} → ${check.seenHash.slice(0, 12)}); the operator approves it with \`parley upstream approve ${server}\``);
      }
      return held;
    },
    recordCall: recordInAudit(audit),
  };
}

/** A call record as an audit row: the upstream's own name for what was called. */
export function recordInAudit(audit: AuditLog): GatewayHooks["recordCall"] {
  return (r) =>
    audit.record({
      who: r.caller,
      server: r.server,
      tool: r.upstreamTool || r.tool,
      method: r.method,
      startedAt: r.at,
      durationMs: r.ms,
      outcome: r.outcome,
      argBytes: r.argBytes,
      resultBytes: r.resultBytes,
    });
}

/**
 * Runs one routed request and hands it to hooks.recordCall whatever its outcome: `ok`,
 * `tool_error` (a tool result with isError), or the code the caller got; sizes, never values.
 * The sizes are the JSON of the arguments and the result, which is also how each travels on:
 * arguments JSON cannot express (nested deeper than the stack: ~1 MB of `{"a":` does it) are
 * refused before they are sent, and such a result is refused too, so the SDK never fails writing
 * them (a failed send is taken for a broken connection: the upstream would restart).
 */
export async function audited<T>(hooks: GatewayHooks, caller: { subject: string }, what: Pick<CallRecord, "server" | "tool" | "upstreamTool" | "method">, args: unknown, run: () => Promise<T>): Promise<T> {
  const at = Date.now();
  const t0 = performance.now();
  let outcome: CallRecord["outcome"] = "INTERNAL_ERROR";
  let argBytes = 0;
  let resultBytes = 0;
  try {
    argBytes = jsonBytes(args, () => new AppError("INVALID_REQUEST", `The arguments for ${what.tool} are nested too deep to pass on as JSON`));
    const result = await run();
    resultBytes = jsonBytes(result, () => new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${what.server}" answered a result nested too deep to pass on as JSON`));
    outcome = (result as { isError?: boolean }).isError ? "tool_error" : "ok";
    return result;
  } catch (err) {
    if (err instanceof AppError) outcome = err.code;
    throw err;
  } finally {
    const named = { server: what.server, method: what.method, tool: clipName(what.tool), upstreamTool: clipName(what.upstreamTool) };
    void Promise.resolve(hooks.recordCall({ at, caller: caller.subject, ...named, ms: performance.now() - t0, outcome, argBytes, resultBytes })).catch((err) =>
      log.error("audit hook failed", { server: what.server, tool: what.tool, err }),
    );
  }
}

/**
 * Characters of a name or URI the audit keeps: a resource URI and a prompt name are the caller's
 * text, up to the request's size, and audit_max_rows bounds the rows, not their size.
 */
const MAX_AUDIT_NAME = 512;

function clipName(name: string): string {
  return name.length <= MAX_AUDIT_NAME ? name : `${name.slice(0, MAX_AUDIT_NAME)}…`;
}

/** UTF-8 bytes of a value's JSON (0 for none); `refuse()` is thrown when it has none (JSON.stringify overflowed). */
function jsonBytes(value: unknown, refuse: () => AppError): number {
  if (value === undefined) return 0;
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    throw refuse();
  }
  return Buffer.byteLength(json);
}
