import { addressGroup } from "../lib/address.ts";
import { constantTimeEqual, sha256Hex } from "../lib/hash.ts";
import { randomToken } from "../lib/ids.ts";
import { log, shortId } from "../lib/log.ts";
import type { ClientRecord, GrantRecord } from "../store/index.ts";
import { signAccessToken } from "./access-tokens.ts";
import { authenticateClient } from "./clients.ts";
import { matchResource, type AuthContext } from "./context.ts";
import {
  InvalidGrantError,
  InvalidRequestError,
  InvalidTargetError,
  oauthFailure,
  rateLimitedResponse,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
} from "./oauth-errors.ts";

/**
 * POST /token: authorization_code (PKCE S256, single use) and refresh_token (rotation, reuse
 * detection), within a per-address allowance (each success stores rows).
 */
export async function handleToken(ctx: AuthContext, request: Request, clientAddress: string): Promise<Response> {
  const wait = ctx.limits.token.take(addressGroup(clientAddress));
  if (wait > 0) return rateLimitedResponse("token requests", wait);
  try {
    const form = await readForm(request);
    const client = await authenticateClient(ctx, request, form);
    const grantType = form.get("grant_type");
    if (grantType === "authorization_code") return tokenResponse(await exchangeCode(ctx, client, form));
    if (grantType === "refresh_token") return tokenResponse(await refresh(ctx, client, form));
    throw new UnsupportedGrantTypeError(`Unsupported grant_type "${grantType ?? ""}"`);
  } catch (err) {
    return oauthFailure(err);
  }
}

/** RFC 6749 §3.2: token requests are application/x-www-form-urlencoded POSTs. */
export async function readForm(request: Request): Promise<URLSearchParams> {
  if (request.method !== "POST") throw new InvalidRequestError("Use POST");
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) throw new InvalidRequestError("Content-Type must be application/x-www-form-urlencoded");
  const text = await request.text();
  if (text.length > 16 * 1024) throw new InvalidRequestError("Request too large");
  return new URLSearchParams(text);
}

function tokenResponse(body: Record<string, unknown>): Response {
  // RFC 6749 §5.1: token responses MUST NOT be cached.
  return Response.json(body, { headers: { "cache-control": "no-store", pragma: "no-cache" } });
}

function checkResource(ctx: AuthContext, form: URLSearchParams): void {
  const resource = form.get("resource");
  if (resource !== null && !matchResource(ctx.settings, resource)) throw new InvalidTargetError(`Tokens are issued only for ${ctx.settings.resource}`);
}

async function exchangeCode(ctx: AuthContext, client: ClientRecord, form: URLSearchParams) {
  const code = form.get("code");
  const verifier = form.get("code_verifier");
  if (!code) throw new InvalidRequestError("code is required");
  if (!verifier) throw new InvalidRequestError("code_verifier is required (PKCE)");
  checkResource(ctx, form);
  const record = await ctx.store.getCode(sha256Hex(code));
  if (!record || record.client_id !== client.client_id) throw new InvalidGrantError("Invalid authorization code");
  if (record.grant_id) {
    // RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
    await ctx.store.revokeGrant(record.grant_id);
    log.warn("authorization code replayed: its tokens are revoked", { client: client.client_id, grant: record.grant_id });
    throw new InvalidGrantError("Authorization code already used; its tokens are revoked");
  }
  if (record.expires_at < Date.now()) throw new InvalidGrantError("Authorization code expired");
  const redirectUri = form.get("redirect_uri");
  if (redirectUri !== null && redirectUri !== record.redirect_uri) throw new InvalidGrantError("redirect_uri does not match the authorization request");
  // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
  if (!constantTimeEqual(new Bun.CryptoHasher("sha256").update(verifier).digest("base64url"), record.code_challenge)) throw new InvalidGrantError("PKCE verification failed");

  // The browser that asked for the code is bound to its identity now that the sign-in completed
  // (not at /authorize, where anyone may ask). A browser bound meanwhile keeps its first identity.
  const subject = await ctx.store.bindBrowserSubject(record.browser_hash, client.client_id, record.subject, Date.now());
  const grant: GrantRecord = {
    id: randomToken("gr"),
    kind: "oauth",
    subject,
    client_id: client.client_id,
    name: null,
    scope: record.scope,
    resource: record.resource,
    created_at: new Date().toISOString(),
    expires_at: null,
    revoked_at: null,
  };
  await ctx.store.createGrant(grant);
  // Tokens stored before the code is spent: if storing fails (a full disk), the code still works.
  const tokens = await issueTokens(ctx, grant);
  if (!(await ctx.store.redeemCode(record.code_hash, grant.id))) {
    // Lost a race with a concurrent exchange of the same code: treat as replay.
    await ctx.store.revokeGrant(grant.id);
    throw new InvalidGrantError("Authorization code already used");
  }
  log.info("sign-in", { caller: shortId(subject), client: client.client_id, client_name: client.metadata.client_name });
  return tokens;
}

async function refresh(ctx: AuthContext, client: ClientRecord, form: URLSearchParams) {
  const token = form.get("refresh_token");
  if (!token) throw new InvalidRequestError("refresh_token is required");
  checkResource(ctx, form);
  const record = await ctx.store.getRefresh(sha256Hex(token));
  if (!record || record.client_id !== client.client_id) throw new InvalidGrantError("Invalid refresh token");
  const grant = await ctx.store.getGrant(record.grant_id);
  if (!grant || grant.revoked_at) throw new InvalidGrantError("Refresh token revoked");
  if (record.expires_at < Date.now()) throw new InvalidGrantError("Refresh token expired");
  const scope = form.get("scope");
  if (scope && scope.split(" ").some((s) => !grant.scope.split(" ").includes(s))) throw new UnauthorizedClientError("Cannot widen scope on refresh");
  // The new tokens are stored before the old one is spent: if storing fails (a full disk), the
  // client keeps a refresh token that works, not one that would now count as reused.
  const tokens = await issueTokens(ctx, grant);
  if (!(await ctx.store.useRefresh(record.token_hash, Date.now()))) {
    // OAuth 2.1 §4.3.1: a rotated refresh token presented again means it leaked; revoke the family
    // (the tokens just issued belong to it too).
    await ctx.store.revokeGrant(grant.id);
    log.warn("refresh token reused: its sign-in is revoked", { caller: shortId(grant.subject), client: client.client_id, grant: grant.id });
    throw new InvalidGrantError("Refresh token reused; every token of this sign-in is revoked");
  }
  return tokens;
}

async function issueTokens(ctx: AuthContext, grant: GrantRecord) {
  const { issuer, accessTokenTtlSeconds, refreshTokenTtlSeconds } = ctx.settings;
  const access_token = await signAccessToken(
    ctx.key,
    { issuer, audience: grant.resource },
    { sub: grant.subject, scope: grant.scope, gid: grant.id, client_id: grant.client_id ?? undefined },
    accessTokenTtlSeconds,
  );
  const refresh_token = randomToken("rt", 32);
  await ctx.store.saveRefresh({
    token_hash: sha256Hex(refresh_token),
    grant_id: grant.id,
    client_id: grant.client_id!,
    expires_at: Date.now() + refreshTokenTtlSeconds * 1000,
    used_at: null,
  });
  return { access_token, token_type: "Bearer", expires_in: accessTokenTtlSeconds, refresh_token, scope: grant.scope };
}
