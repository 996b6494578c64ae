/**
 * RFC 6749 error codes through the SDK's OAuthError family. The SDK's OAuth server moved to a
 * legacy package in v2, so this file is the one place that imports it (STYLE.md §11).
 */
import { CustomOAuthError, OAuthError, ServerError, TemporarilyUnavailableError, TooManyRequestsError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { AppError, RETRY_AFTER_SECONDS, toAppError } from "../errors.ts";

export {
  AccessDeniedError,
  InsufficientScopeError,
  InvalidClientError,
  InvalidClientMetadataError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  InvalidTargetError,
  InvalidTokenError,
  OAuthError,
  ServerError,
  TooManyRequestsError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
  UnsupportedResponseTypeError,
} from "@modelcontextprotocol/sdk/server/auth/errors.js";

/** RFC 7591 §3.2.2: a redirect URI the server will not accept. */
export const invalidRedirectUri = (message: string) => new CustomOAuthError("invalid_redirect_uri", message);

const STATUS: Record<string, number> = { invalid_client: 401, invalid_token: 401, insufficient_scope: 403, too_many_requests: 429, server_error: 500 };

/** An OAuth error as its JSON response; `Cache-Control: no-store` as RFC 6749 §5.1 asks of token responses. */
export function oauthErrorResponse(err: OAuthError, status = STATUS[err.errorCode] ?? 400, headers: Record<string, string> = {}): Response {
  return Response.json(err.toResponseObject(), { status, headers: { "cache-control": "no-store", ...headers } });
}

/**
 * 429 for an address over its allowance (RFC 6585 §4: with Retry-After), as an OAuth error body
 * whose description starts with our stable code.
 */
export function rateLimitedResponse(what: string, retryAfter: number): Response {
  const err = new TooManyRequestsError(`RATE_LIMITED: Too many ${what} from your address; retry in ${retryAfter} s`);
  return oauthErrorResponse(err, 429, { "retry-after": String(retryAfter) });
}

/**
 * Any failure of a JSON OAuth endpoint as its RFC 6749 answer: an OAuthError as itself; a storage
 * failure (STORAGE_UNAVAILABLE, logged by the store) as 503 `temporarily_unavailable` with
 * Retry-After (the code of RFC 6749 §4.1.2.1, used alike at /token and /register); anything else
 * logged under an error id and answered 500 `server_error` naming the id.
 */
export function oauthFailure(err: unknown, endpoint: string): Response {
  if (err instanceof OAuthError) return oauthErrorResponse(err);
  if (err instanceof AppError && err.status === 503) return oauthErrorResponse(new TemporarilyUnavailableError(err.toString()), 503, { "retry-after": String(RETRY_AFTER_SECONDS) });
  // Any other AppError reaching here is a bug too: it gets an id like an unexpected error.
  const unexpected = err instanceof AppError && err.code !== "INTERNAL_ERROR" ? new AppError("INTERNAL_ERROR", err.toString(), { cause: err }) : err;
  const { detail } = toAppError(unexpected, `${endpoint} endpoint`);
  return oauthErrorResponse(new ServerError(`${endpoint} failed (error ${String(detail?.error_id)})`));
}
