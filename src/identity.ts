/**
 * Who a verified request speaks for: produced by src/auth's resource-server check, consumed by
 * src/mcp (session binding, tool callers). A shared kernel type, like errors.ts, so neither feature
 * imports the other.
 */
export interface Identity {
  /** The token subject: the principal channels know (`usr_…`, `agent:NAME`). */
  subject: string;
  /** Granted servers ("channels", upstream names). */
  servers: string[];
  /** The grant behind the token (revocation is checked on it). */
  grantId: string;
  clientId: string | null;
  token: string;
  /** Epoch seconds. */
  expiresAt: number;
}
