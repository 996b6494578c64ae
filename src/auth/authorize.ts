import { addressGroup } from "../lib/address.ts";
import { constantTimeEqual, sha256Hex } from "../lib/hash.ts";
import { randomToken } from "../lib/ids.ts";
import type { ClientRecord } from "../store/index.ts";
import { browserCookie, newBrowserSecret, readBrowserSecret } from "./browser-cookie.ts";
import { consentPage, errorPage, pageHeaders } from "./consent.ts";
import { CODE_TTL_MS, matchResource, ownOrigins, type AuthContext } from "./context.ts";
import { grantableScope } from "./scopes.ts";

const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;
/** The consent form is a handful of short fields. */
const MAX_FORM_BYTES = 16 * 1024;

const html = (body: string, status: number, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...pageHeaders(), ...headers } });

const tooMany = (message: string, retryAfter: number) => html(errorPage("Too many attempts", `RATE_LIMITED: ${message}; try again in ${retryAfter} s.`), 429, { "retry-after": String(retryAfter) });

/**
 * GET /authorize, and POST from the consent page. Until the client and redirect URI are known
 * good, errors render a page and never redirect (RFC 6749 §4.1.2.1); after that they go back to
 * the client with `error`, `state` and `iss` (RFC 9207). The identity signed in as comes from
 * the browser's own cookie (browser-cookie.ts), never from the client_id alone, which is public.
 */
export async function handleAuthorize(ctx: AuthContext, request: Request, clientAddress: string): Promise<Response> {
  const isPost = request.method === "POST";
  let params: URLSearchParams;
  if (isPost) {
    // CSRF: a page on another origin must not submit the consent form (OWASP: verify the
    // source origin). Browsers send Origin on every POST; Sec-Fetch-Site where Origin is withheld.
    if (crossOrigin(ctx, request.headers)) return html(errorPage("Forbidden", "FORBIDDEN: The sign-in form was posted from another site."), 403);
    const form = request.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded") ? await request.text() : "";
    if (Buffer.byteLength(form) > MAX_FORM_BYTES) return html(errorPage("Bad request", "INVALID_REQUEST: The sign-in form is too large."), 413);
    params = new URLSearchParams(form);
  } else {
    params = new URL(request.url).searchParams;
  }

  const clientId = params.get("client_id");
  const client = clientId ? await ctx.store.getClient(clientId) : null;
  if (!client) return html(errorPage("Unknown client", "This sign-in link names no client registered with this server."), 400);
  const registered = client.metadata.redirect_uris;
  const redirectUri = params.get("redirect_uri") ?? (registered.length === 1 ? registered[0]! : null);
  // Exact string match, no normalisation (OAuth 2.1 §4.1.1).
  if (!redirectUri || !registered.includes(redirectUri)) {
    return html(errorPage("Invalid redirect URI", "The redirect URI is missing or not registered for this client; refusing to redirect."), 400);
  }

  const state = params.get("state");
  const back = (query: Record<string, string>, headers: Record<string, string> = {}) => {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    if (state !== null) url.searchParams.set("state", state);
    url.searchParams.set("iss", ctx.settings.issuer);
    return new Response(null, { status: 302, headers: { location: url.toString(), "cache-control": "no-store", "referrer-policy": "no-referrer", ...headers } });
  };
  const fail = (error: string, description: string) => back({ error, error_description: description });

  if (params.get("response_type") !== "code") return fail("unsupported_response_type", 'response_type must be "code"');
  const challenge = params.get("code_challenge");
  if (!challenge) return fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256");
  if (params.get("code_challenge_method") !== "S256") return fail("invalid_request", "code_challenge_method must be S256 (plain is not allowed)");
  if (!PKCE_CHALLENGE.test(challenge)) return fail("invalid_request", "code_challenge must be 43-128 base64url characters");
  const requested = params.get("resource");
  // RFC 8707: a token for another resource is refused; an omitted resource means this server's.
  const resource = requested === null ? ctx.settings.resource : matchResource(ctx.settings, requested);
  if (!resource) return fail("invalid_target", `This server issues tokens only for ${ctx.settings.resource}`);
  const scope = grantableScope(ctx.settings, params.get("scope"));

  const address = addressGroup(clientAddress);
  if (ctx.settings.passcode !== undefined) {
    // Check and record with no await between them, so concurrent guesses cannot all pass the check.
    const wait = ctx.passcodeLimiter.retryAfter(address);
    if (wait > 0) return tooMany("Too many wrong passcodes from your address", wait);
    const view = { clientName: String(client.metadata.client_name ?? client.client_id), redirectHost: new URL(redirectUri).host, params };
    if (!isPost) return html(consentPage(view), 200, pageHeaders(redirectUri));
    if (!passcodeMatches(ctx.settings.passcode, params.get("passcode") ?? "")) {
      ctx.passcodeLimiter.recordFailure(address);
      return html(consentPage({ ...view, error: "Wrong passcode." }), 401, pageHeaders(redirectUri));
    }
    ctx.passcodeLimiter.recordSuccess(address);
  }
  const wait = ctx.limits.authorize.take(address);
  if (wait > 0) return tooMany("Too many sign-ins from your address", wait);

  const secret = readBrowserSecret(request.headers.get("cookie"), ctx.settings.issuer) ?? newBrowserSecret();
  const browserHash = sha256Hex(secret);
  const subject = (await ctx.store.findBrowserSubject(browserHash, client.client_id)) ?? inheritedSubject(client) ?? randomToken("usr");
  const code = randomToken("code", 32);
  await ctx.store.saveCode({
    code_hash: sha256Hex(code),
    client_id: client.client_id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    resource,
    scope,
    subject,
    expires_at: Date.now() + CODE_TTL_MS,
    grant_id: null,
    browser_hash: browserHash,
  });
  // Renewed on each sign-in; the identity is bound to it when the code is exchanged (token.ts).
  return back({ code }, { "set-cookie": browserCookie(secret, ctx.settings.issuer) });
}

/**
 * A client registered before identities were bound per browser signed in as one identity. A
 * confidential client keeps it for every browser: its codes are redeemed only with its secret,
 * so a client_id alone never reaches it. A public client's old identity lives on only through
 * its refresh tokens; a new sign-in starts a new one (README, "Identity").
 */
function inheritedSubject(client: ClientRecord): string | null {
  return client.secret_hash !== null ? client.legacy_subject : null;
}

function crossOrigin(ctx: AuthContext, headers: Headers): boolean {
  const origin = headers.get("origin");
  if (origin !== null) return !ownOrigins(ctx.settings).includes(origin);
  const site = headers.get("sec-fetch-site");
  return site !== null && site !== "same-origin" && site !== "none";
}

function passcodeMatches(expected: string, given: string): boolean {
  // Hashed first: the passcode's length is secret too.
  return constantTimeEqual(sha256Hex(expected), sha256Hex(given));
}
