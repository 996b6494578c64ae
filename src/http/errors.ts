import { RETRY_AFTER_SECONDS, toAppError } from "../errors.ts";

/**
 * An error that escaped a route, as JSON with its AppError's status instead of Elysia's plain-text
 * 500: JSON-RPC at /mcp; elsewhere RFC 6749's `{error, error_description}`, where a 503 is
 * `temporarily_unavailable` (§4.1.2.1). The text keeps our stable code; a 503 carries Retry-After.
 * Unexpected errors are logged under an error id the answer carries, and not leaked.
 */
export function errorResponse(err: unknown, path: string): Response {
  const e = toAppError(err, path);
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (e.status === 503) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  const error = e.status === 503 ? "temporarily_unavailable" : e.status >= 500 ? "server_error" : "invalid_request";
  const body = path === "/mcp" ? { jsonrpc: "2.0", error: { code: -32000, message: e.toString() }, id: null } : { error, error_description: e.toString() };
  return Response.json(body, { status: e.status, headers });
}
