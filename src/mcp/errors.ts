import { ErrorCode, McpError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { isServerFailure, toAppError } from "../errors.ts";

/**
 * AppError → MCP tool error (the README's Errors): `isError: true`, text starting with the stable code,
 * and the code in structuredContent for programs. Unknown errors are logged under an error id the
 * text carries, never leaked.
 */
export function toToolError(err: unknown, tool?: string): CallToolResult {
  const e = toAppError(err, tool && `tool ${tool}`);
  return {
    isError: true,
    content: [{ type: "text", text: `${e.code}: ${e.message}` }],
    structuredContent: { error: { code: e.code, message: e.message, ...(e.detail ? { detail: e.detail } : {}) } },
  };
}

/** AppError → JSON-RPC error, for resource requests (codes there must be integers; the text keeps ours). */
export function toResourceError(err: unknown, where = "transcript resource"): McpError {
  const e = toAppError(err, where);
  return new McpError(isServerFailure(e.code) ? ErrorCode.InternalError : ErrorCode.InvalidParams, e.toString());
}
