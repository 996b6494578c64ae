import type { AuthStore } from "../store/index.ts";
import type { SigningKey } from "./keys.ts";
import { FailureLimiter } from "./rate-limit.ts";

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
  /** Failed passcode attempts, per client address. */
  passcodeLimiter: FailureLimiter;
}

export function createAuthContext(store: AuthStore, key: SigningKey, settings: AuthSettings): AuthContext {
  return { store, key, settings, passcodeLimiter: new FailureLimiter(10, 10 * 60_000) };
}

/** Authorization code lifetime: RFC 6749 §4.1.2 recommends at most 10 minutes; clients use it within seconds. */
export const CODE_TTL_MS = 60_000;
