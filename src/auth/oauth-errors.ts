/**
 * RFC 6749 error codes through the SDK's OAuthError family. The SDK's OAuth server moved to a
 * legacy package in v2, so this file is the one place that imports it (a later move then touches it alone).
 */
import { CustomOAuthError, OAuthError, TooManyRequestsError } from "@modelcontextprotocol/sdk/server/auth/errors.js";

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
 * A failure of a JSON OAuth endpoint: an OAuthError is answered here, as itself; anything else (a
 * storage failure, a bug) is thrown on to the HTTP edge, which answers it in RFC 6749's form too
 * (http/errors.ts: STORAGE_UNAVAILABLE as 503 `temporarily_unavailable` with Retry-After).
 */
export function oauthFailure(err: unknown): Response {
  if (err instanceof OAuthError) return oauthErrorResponse(err);
  throw err;
}
