import type { AuthSettings } from "./context.ts";

/**
 * The scope an OAuth sign-in gets: the requested servers that are in default_servers, or all of
 * default_servers when the request names none of them. RFC 6749 §3.3 lets the server ignore
 * requested scope (the token response then states the scope granted), which keeps clients that
 * ask for scopes of their own (e.g. "openid") working.
 */
export function grantableScope(s: AuthSettings, requested: string | null): string {
  const wanted = requested?.split(" ").filter(Boolean) ?? [];
  const granted = [...new Set(wanted.filter((w) => s.defaultServers.includes(w)))];
  return (granted.length ? granted : s.defaultServers).join(" ");
}
