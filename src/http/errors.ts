import { ERROR_CODES, RETRY_AFTER_SECONDS, toAppError } from "../errors.ts";

/**
 * The one place an error meets HTTP: any error that escaped a handler, as JSON with its code's
 * status (errors.ts) instead of Elysia's plain-text 500, in the dialect of where it happened:
 * - /mcp: a JSON-RPC error (MCP transports: errors outside a request carry no id);
 * - /transcripts/…: `{error: CODE, message}`;
 * - elsewhere (the OAuth endpoints): RFC 6749's `{error, error_description}`, where a 503 is
 *   `temporarily_unavailable` (§4.1.2.1).
 * The text keeps our stable code; a 503 carries Retry-After. Unexpected errors are logged under an
 * error id the answer carries (toAppError), and not leaked.
 */
export function errorResponse(err: unknown, path: string): Response {
  const e = toAppError(err, path);
  const status = ERROR_CODES[e.code];
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (status === 503) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  return Response.json(body(path, e.code, e.toString(), status), { status, headers });
}

function body(path: string, code: string, text: string, status: number): unknown {
  if (path === "/mcp") return { jsonrpc: "2.0", error: { code: -32000, message: text }, id: null };
  if (path.startsWith("/transcripts/")) return { error: code, message: text };
  const error = status === 503 ? "temporarily_unavailable" : status >= 500 ? "server_error" : "invalid_request";
  return { error, error_description: text };
}
