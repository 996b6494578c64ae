import { timingSafeEqual } from "node:crypto";
import { sha256Hex } from "../lib/hash.ts";
import { randomToken } from "../lib/ids.ts";
import { CODE_TTL_MS, matchResource, type AuthContext } from "./context.ts";
import { consentPage, errorPage } from "./consent.ts";
import { grantableScope } from "./scopes.ts";

const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;

const html = (body: string, status: number, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...headers } });

/**
 * GET /authorize (and POST from the consent page). Until the client and redirect URI are known
 * good, errors render a page and never redirect (RFC 6749 §4.1.2.1); after that they go back to
 * the client with `error`, `state` and `iss` (RFC 9207).
 */
export async function handleAuthorize(ctx: AuthContext, params: URLSearchParams, isPost: boolean, clientAddress: string): Promise<Response> {
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
  const back = (query: Record<string, string>) => {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    if (state !== null) url.searchParams.set("state", state);
    url.searchParams.set("iss", ctx.settings.issuer);
    return new Response(null, { status: 302, headers: { location: url.toString(), "cache-control": "no-store" } });
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

  if (ctx.settings.passcode !== undefined) {
    const view = { clientName: String(client.metadata.client_name ?? client.client_id), redirectHost: new URL(redirectUri).host, params };
    if (ctx.passcodeLimiter.isLimited(clientAddress)) {
      const retry = ctx.passcodeLimiter.retryAfter(clientAddress);
      return html(errorPage("Too many attempts", `RATE_LIMITED: Too many wrong passcodes; try again in ${retry} s.`), 429, { "retry-after": String(retry) });
    }
    if (!isPost) return html(consentPage(view), 200);
    if (!passcodeMatches(ctx.settings.passcode, params.get("passcode") ?? "")) {
      ctx.passcodeLimiter.recordFailure(clientAddress);
      return html(consentPage({ ...view, error: "Wrong passcode." }), 401);
    }
  }

  // One identity per registered client: its later sign-ins (and refreshes) are the same user.
  const subject = await ctx.store.bindClientSubject(client.client_id, randomToken("usr"));
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
  });
  return back({ code });
}

function passcodeMatches(expected: string, given: string): boolean {
  const a = Buffer.from(sha256Hex(expected));
  const b = Buffer.from(sha256Hex(given));
  return timingSafeEqual(a, b);
}
