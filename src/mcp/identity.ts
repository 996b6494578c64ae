import { AppError } from "../errors.ts";
import type { Caller } from "../channels/index.ts";
import type { ToolExtra } from "./tool.ts";

/**
 * The one place that decides who is calling. Until OAuth lands (issue 3) the principal is the
 * MCP session id, as in the prototype; then it becomes the token subject (extra.authInfo).
 */
export function callerFrom(extra: ToolExtra): Caller {
  const principal = extra.sessionId;
  if (!principal) throw new AppError("UNAUTHENTICATED", "No MCP session; initialize first");
  return { principal: `session:${principal}` };
}
