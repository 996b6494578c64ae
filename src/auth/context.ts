import { isLoopbackHost, LOOPBACK_HOSTNAMES } from "../lib/address.ts";
import type { AuthStore } from "../store/index.ts";
import type { VerifiedToken } from "./access-tokens.ts";
import type { SigningKey } from "./keys.ts";
import { BackoffLimiter, RateLimiter } from "./rate-limit.ts";

export interface AuthSettings {
  /** OAuth issuer = the public URL (no trailing slash). */
  issuer: string;
  /** The MCP resource (RFC 8707 / RFC 9728), `${issuer}/mcp`. */
  resource: string;
  passcode?: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** What an OAuth sign-in is granted. */
  defaultServers: string[];
  /** Every server name this instance serves ("channels" + upstreams). */
  knownServers: string[];
}

export interface AuthContext {
  store: AuthStore;
  key: SigningKey;
  settings: AuthSettings;
  /** Wrong passcodes per client address: exponential backoff (rate-limit.ts). */
  passcodeLimiter: BackoffLimiter;
  /** Requests per client address at the endpoints that store something. */
  limits: { register: RateLimiter; authorize: RateLimiter; token: RateLimiter };
  /**
   * Tokens whose signature and claims already verified, until they expire. An EdDSA verify costs
   * ~100 µs, more than the rest of a post_message; revocation is still checked on every request.
   */
  verifiedTokens: Map<string, VerifiedToken>;
}

/**
 * Per-address allowances (a burst, then a steady rate). Registration is rare for a real client (once
 * per install or connector), so 60 then one a minute; an interactive sign-in (/authorize: each
 * stores a code, and a completed one an identity that is kept) 120 then one every 10 s; /token
 * (each may store a grant or a rotated refresh token; every client refreshes hourly) 120 then one a
 * second. All well above what the users behind one reverse proxy sign in and refresh. Each bounds
 * what one address can make the server store; the sweeper (sweeper.ts) deletes what is never used.
 */
export const RATE_LIMITS = {
  register: { capacity: 60, perSecond: 1 / 60 },
  authorize: { capacity: 120, perSecond: 1 / 10 },
  token: { capacity: 120, perSecond: 1 },
} as const;

export function createAuthContext(store: AuthStore, key: SigningKey, settings: AuthSettings): AuthContext {
  const bucket = (l: { capacity: number; perSecond: number }) => new RateLimiter(l.capacity, l.perSecond);
  return {
    store,
    key,
    settings,
    passcodeLimiter: new BackoffLimiter(),
    limits: { register: bucket(RATE_LIMITS.register), authorize: bucket(RATE_LIMITS.authorize), token: bucket(RATE_LIMITS.token) },
    verifiedTokens: new Map(),
  };
}

/**
 * Every URL this server answers to as its MCP resource. On a loopback public URL the three
 * loopback spellings are one server, and clients keep the spelling the user typed (mcp-remote
 * with http://127.0.0.1:8201/mcp, the SDK checks RFC 9728 `resource` against its own URL), so
 * each is accepted, and a token is bound to the one it was requested for.
 */
export function resourceAliases(s: AuthSettings): string[] {
  const url = new URL(s.resource);
  if (!isLoopbackHost(url.hostname)) return [s.resource];
  return LOOPBACK_HOSTNAMES.map((host) => `${url.protocol}//${host}${url.port ? `:${url.port}` : ""}${url.pathname}`);
}

/** The alias a requested `resource` names (RFC 8707), or null if it is not this server. */
export function matchResource(s: AuthSettings, requested: string): string | null {
  const wanted = requested.replace(/\/+$/, "");
  return resourceAliases(s).find((r) => r === wanted) ?? null;
}

/** The origins this server's own pages are served from: the public URL's, and on loopback each spelling. */
export function ownOrigins(s: AuthSettings): string[] {
  return resourceAliases(s).map((r) => new URL(r).origin);
}

/** The resource as seen by a request to `hostHeader` (falls back to the public URL's). */
export function resourceForHost(s: AuthSettings, hostHeader: string | null): string {
  const { protocol, pathname } = new URL(s.resource);
  return (hostHeader && matchResource(s, `${protocol}//${hostHeader}${pathname}`)) || s.resource;
}

/** Authorization code lifetime: RFC 6749 §4.1.2 recommends at most 10 minutes; clients use it within seconds. */
export const CODE_TTL_MS = 60_000;
