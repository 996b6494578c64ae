import { randomToken } from "../lib/ids.ts";

/**
 * The browser secret behind an OAuth identity: a first-party cookie the sign-in sets in the
 * user's own browser, so a sign-in is tied to something only that browser holds (a client_id is
 * public: it is in every authorize URL). Stored server-side only as SHA-256.
 */
const NAME = "parley_browser";
/** 256 random bits; anything else in the cookie is ignored (the browser then gets a new one). */
const SECRET = /^brw_[A-Za-z0-9_-]{43}$/;
/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis §5.5); each sign-in renews it. */
const MAX_AGE_SECONDS = 400 * 86_400;

/**
 * On https the `__Host-` prefix makes browsers insist on Secure, Path=/ and no Domain, so no
 * sibling host or plain-http page can plant or overwrite it (RFC 6265bis §4.1.3.2).
 */
function cookieName(issuer: string): { name: string; secure: boolean } {
  return issuer.startsWith("https:") ? { name: `__Host-${NAME}`, secure: true } : { name: NAME, secure: false };
}

/** The browser secret the request's Cookie header carries, if a well-formed one. */
export function readBrowserSecret(cookieHeader: string | null, issuer: string): string | null {
  if (!cookieHeader) return null;
  const { name } = cookieName(issuer);
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      if (SECRET.test(value)) return value;
    }
  }
  return null;
}

export const newBrowserSecret = () => randomToken("brw", 32);

/**
 * Set-Cookie for the secret: HttpOnly (no script reads it), SameSite=Lax (sent on the top-level
 * navigation to /authorize that a client starts from its own site, never on cross-site
 * subrequests or POSTs).
 */
export function browserCookie(secret: string, issuer: string): string {
  const { name, secure } = cookieName(issuer);
  return `${name}=${secret}; Path=/; Max-Age=${MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}
