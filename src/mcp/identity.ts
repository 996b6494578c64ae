import { AppError } from "../errors.ts";
import type { Caller } from "../channels/index.ts";
import type { ToolExtra } from "./tool.ts";

/**
 * The one place that decides who is calling (DESIGN.md §4): the verified token's subject, so a
 * reconnect, a new session or a restart keeps membership. In --no-auth mode (conformance suite
 * only) there is no token and the MCP session id stands in.
 */
export function callerFrom(extra: ToolExtra): Caller {
  const subject = extra.authInfo?.extra?.subject;
  if (typeof subject === "string") return { principal: subject };
  if (extra.sessionId) return { principal: `session:${extra.sessionId}` };
  throw new AppError("UNAUTHENTICATED", "No verified caller; sign in first");
}
