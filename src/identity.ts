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

/** The grant name of the built-in channel tools. */
export const CHANNELS = "channels";

/**
 * The server a grant entry names. A grant (an agent token's servers, a sign-in's default_servers)
 * lists whole servers (`battle`, `channels`) or single upstream tools (`battle_echo`); server names
 * have no underscore, so what comes before the first one is the server.
 */
export function grantServer(entry: string): string {
  const cut = entry.indexOf("_");
  return cut < 0 ? entry : entry.slice(0, cut);
}

/** Whether a grant reaches the upstream tool `tool` (its name as exposed, `SERVER_TOOL`) of `server`. */
export function grantCovers(grant: readonly string[], server: string, tool: string): boolean {
  return grant.includes(server) || grant.includes(tool);
}

/**
 * Whether a grant entry names something `servers` (the names this server serves: "channels" and its
 * upstreams) defines: one of them, or a single tool of an upstream (the built-in tools are granted
 * only together, as "channels").
 */
export function grantEntryKnown(servers: readonly string[], entry: string): boolean {
  if (servers.includes(entry)) return true;
  const server = grantServer(entry);
  return server !== entry && server !== CHANNELS && servers.includes(server) && entry.length > server.length + 1;
}
