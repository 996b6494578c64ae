import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type { ErrorCode } from "../errors.ts";

/** One upstream call as the audit log records it: never argument or result values, only their sizes. */
export interface CallRecord {
  /** When the call started (epoch ms). */
  at: number;
  /** The caller's subject (`usr_…`, `agent:NAME`), or `session:…` without auth. */
  caller: string;
  server: string;
  /** The name the caller used (`battle_echo`). */
  tool: string;
  /** The upstream's own name for it (`echo`). */
  upstreamTool: string;
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
