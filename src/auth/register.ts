import { OAuthClientMetadataSchema } from "@modelcontextprotocol/sdk/shared/auth.js";
import { addressGroup, isLoopbackHost } from "../lib/address.ts";
import { sha256Hex } from "../lib/hash.ts";
import { randomToken } from "../lib/ids.ts";
import type { AuthContext } from "./context.ts";
import { InvalidClientMetadataError, invalidRedirectUri, OAuthError, oauthErrorResponse, oauthFailure, rateLimitedResponse } from "./oauth-errors.ts";

const AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"] as const;
/**
 * Caps on what one registration stores. Real clients send well under 1 KiB (mcp-remote, the
 * SDK, Claude and ChatGPT connectors); the flood in issue 9 stored 60 KiB each.
 */
export const MAX_REGISTRATION_BYTES = 8 * 1024;
export const MAX_STORED_METADATA_BYTES = 4 * 1024;
export const MAX_REDIRECT_URIS = 10;

/** POST /register: per-address rate limit, size caps, then RFC 7591 registration (201). */
export async function handleRegister(ctx: AuthContext, request: Request, clientAddress: string): Promise<Response> {
  const wait = ctx.limits.register.take(addressGroup(clientAddress));
  if (wait > 0) return rateLimitedResponse("registrations", wait);
  try {
    // RFC 7591 §3.2.2 has no "too large"; invalid_client_metadata is what a client understands.
    const tooLarge = () => new InvalidClientMetadataError(`Registration request too large (at most ${MAX_REGISTRATION_BYTES} bytes)`);
    if (Number(request.headers.get("content-length") ?? 0) > MAX_REGISTRATION_BYTES) throw tooLarge();
    const text = await request.text();
    if (Buffer.byteLength(text) > MAX_REGISTRATION_BYTES) throw tooLarge();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new InvalidClientMetadataError("Body must be JSON client metadata (RFC 7591)");
    }
    return Response.json(await registerClient(ctx, body), { status: 201, headers: { "cache-control": "no-store" } });
  } catch (err) {
    if (err instanceof OAuthError) return oauthErrorResponse(err, 400);
    return oauthFailure(err);
  }
}

/**
 * RFC 7591 registration. Redirect URIs must be https, or http on a loopback host (OAuth 2.1 §8.4.2,
 * MCP authorization: "Redirect URIs MUST be either localhost or HTTPS"), without a fragment.
 */
export async function registerClient(ctx: AuthContext, body: unknown) {
  const parsed = OAuthClientMetadataSchema.safeParse(body);
  if (!parsed.success) throw new InvalidClientMetadataError(`Invalid client metadata: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`);
  const meta = parsed.data;
  if (meta.redirect_uris.length === 0) throw invalidRedirectUri("At least one redirect_uri is required");
  if (meta.redirect_uris.length > MAX_REDIRECT_URIS) throw new InvalidClientMetadataError(`At most ${MAX_REDIRECT_URIS} redirect_uris`);
  for (const uri of meta.redirect_uris) {
    const url = new URL(uri);
    if (url.hash) throw invalidRedirectUri(`Redirect URI must not have a fragment: ${uri}`);
    if (!(url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname)))) {
      throw invalidRedirectUri(`Redirect URI must be https or http on localhost: ${uri}`);
    }
  }
  // RFC 7591 §2: the default method is client_secret_basic.
  const method = meta.token_endpoint_auth_method ?? "client_secret_basic";
  if (!(AUTH_METHODS as readonly string[]).includes(method)) throw new InvalidClientMetadataError(`Unsupported token_endpoint_auth_method "${method}"`);
  const grantTypes = meta.grant_types ?? ["authorization_code", "refresh_token"];
  if (grantTypes.some((g) => g !== "authorization_code" && g !== "refresh_token")) throw new InvalidClientMetadataError("Only authorization_code and refresh_token grants are supported");
  if ((meta.response_types ?? ["code"]).some((r) => r !== "code")) throw new InvalidClientMetadataError('Only response_type "code" is supported');

  const metadata = { ...meta, token_endpoint_auth_method: method, grant_types: grantTypes, response_types: ["code"] };
  const stored = JSON.stringify(metadata);
  if (Buffer.byteLength(stored) > MAX_STORED_METADATA_BYTES) throw new InvalidClientMetadataError(`Client metadata too large (at most ${MAX_STORED_METADATA_BYTES} bytes)`);
  const client_id = randomToken("cli");
  const client_secret = method === "none" ? undefined : randomToken("cs", 32);
  await ctx.store.createClient({
    client_id,
    secret_hash: client_secret ? sha256Hex(client_secret) : null,
    metadata,
    legacy_subject: null,
    created_at: new Date().toISOString(),
    first_grant_at: null,
  });
  return {
    ...metadata,
    client_id,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    ...(client_secret ? { client_secret, client_secret_expires_at: 0 } : {}),
  };
}
