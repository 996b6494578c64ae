import { verifyAccessToken } from "./access-tokens.ts";
import { resourceAliases, resourceForHost, type AuthContext } from "./context.ts";
import { resourceMetadataUrl } from "./metadata.ts";

import { grantEntryKnown, type Identity } from "../identity.ts";
import type { GrantRecord } from "../store/index.ts";

const VERIFIED_CACHE_SIZE = 10_000;

export type { Identity };

export type AuthenticateResult = { ok: true; identity: Identity } | { ok: false; response: Response };

/**
 * Resource-server check for every /mcp request, before anything else (MCP authorization; OAuth 2.1
 * §5.2): bearer in the header only, signature, iss, aud = our resource, expiry, then the grant is
 * looked up so revocation takes effect at once. Missing or bad → 401 with WWW-Authenticate
 * pointing at the RFC 9728 metadata; valid but granting no server here → 403 insufficient_scope.
 */
export async function authenticate(ctx: AuthContext, request: Request): Promise<AuthenticateResult> {
  const { issuer, knownServers } = ctx.settings;
  const scope = knownServers.join(" ");
  const challenge = (status: number, error?: string, description?: string) => {
    const resource = resourceForHost(ctx.settings, request.headers.get("host"));
    const parts = [`Bearer resource_metadata="${resourceMetadataUrl(resource)}"`, `scope="${scope}"`];
    if (error) parts.push(`error="${error}"`);
    if (description) parts.push(`error_description="${description}"`);
    const body = error ? { error, error_description: description } : { error: "invalid_token", error_description: "Authorization required" };
    return { ok: false as const, response: Response.json(body, { status, headers: { "www-authenticate": parts.join(", ") } }) };
  };

  // OAuth 2.1 §5.2 / MCP: tokens never travel in the query string.
  if (request.url.includes("access_token") && new URL(request.url).searchParams.has("access_token")) return challenge(400, "invalid_request", "Send the token in the Authorization header, not the URL");
  const header = request.headers.get("authorization");
  if (!header) return challenge(401);
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
  if (!match) return challenge(401, "invalid_token", "Malformed Authorization header");
  const token = match[1]!;

  let claims = ctx.verifiedTokens.get(token);
  if (claims && claims.exp * 1000 <= Date.now()) {
    ctx.verifiedTokens.delete(token);
    claims = undefined;
  }
  if (!claims) {
    try {
      claims = await verifyAccessToken(ctx.key, { issuer, audience: resourceAliases(ctx.settings) }, token);
    } catch {
      return challenge(401, "invalid_token", "The access token is invalid or expired");
    }
    if (ctx.verifiedTokens.size >= VERIFIED_CACHE_SIZE) ctx.verifiedTokens.delete(ctx.verifiedTokens.keys().next().value!);
    ctx.verifiedTokens.set(token, claims);
  }
  const grant = await ctx.store.getGrant(claims.gid);
  const refused = tokenRefusal(grant, { subject: claims.sub, expiresAt: claims.exp });
  if (refused) return challenge(401, "invalid_token", refused === "revoked" ? "The access token has been revoked" : "The access token has expired");
  // What the grant names now (its row, read on every request), of what this server serves: a
  // whole server ("channels", an upstream) or one upstream tool ("battle_echo").
  const servers = grant!.scope.split(" ").filter((entry) => grantEntryKnown(knownServers, entry));
  const identity: Identity = { subject: claims.sub, servers, grantId: claims.gid, clientId: claims.client_id ?? null, token, expiresAt: claims.exp };
  if (servers.length === 0) return challenge(403, "insufficient_scope", `This token grants none of: ${scope}`);
  return { ok: true, identity };
}

/**
 * The one revocation rule, applied to a new request (authenticate) and to what an open stream
 * sends later (stillAuthorized): a verified token speaks for its subject while its grant exists,
 * is not revoked, is that subject's, and has not expired, and the token itself has not expired.
 * Null when it still does; else why not, for the wire answer.
 */
export function tokenRefusal(grant: GrantRecord | null, token: Pick<Identity, "subject" | "expiresAt">, now = Date.now()): "revoked" | "expired" | null {
  if (!grant || grant.revoked_at !== null || grant.subject !== token.subject) return "revoked";
  if ((grant.expires_at !== null && grant.expires_at < now) || token.expiresAt * 1000 <= now) return "expired";
  return null;
}

/**
 * Whether a caller verified earlier still may be answered: an open stream's push (resource
 * updates), a long poll's answer. Revoking a grant (`parley token revoke`, a refresh token's
 * reuse) stops these at their next message, as it stops the next request.
 */
export async function stillAuthorized(ctx: AuthContext, identity: Identity): Promise<boolean> {
  return tokenRefusal(await ctx.store.getGrant(identity.grantId), identity) === null;
}
