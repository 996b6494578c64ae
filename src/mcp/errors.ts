import { ErrorCode, McpError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { isServerFailure, toAppError } from "../errors.ts";

/**
 * AppError → MCP tool error (DESIGN.md §4): `isError: true`, text starting with the stable code,
 * and the code in structuredContent for programs. Unknown errors are logged, never leaked.
 */
export function toToolError(err: unknown): CallToolResult {
  const e = toAppError(err);
  if (e.code === "INTERNAL_ERROR") console.error("[parley] internal error in tool call:", e.cause ?? e);
  return {
    isError: true,
    content: [{ type: "text", text: `${e.code}: ${e.message}` }],
    structuredContent: { error: { code: e.code, message: e.message, ...(e.detail ? { detail: e.detail } : {}) } },
  };
}

/** AppError → JSON-RPC error, for resource requests (codes there must be integers; the text keeps ours). */
export function toResourceError(err: unknown): McpError {
  const e = toAppError(err);
  return new McpError(isServerFailure(e.code) ? ErrorCode.InternalError : ErrorCode.InvalidParams, e.toString());
}
