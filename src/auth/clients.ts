import { OAuthClientMetadataSchema } from "@modelcontextprotocol/sdk/shared/auth.js";
import { sha256Hex } from "../lib/hash.ts";
import { randomToken } from "../lib/ids.ts";
import { timingSafeEqual } from "node:crypto";
import type { ClientRecord } from "../store/index.ts";
import type { AuthContext } from "./context.ts";
import { InvalidClientError, InvalidClientMetadataError, invalidRedirectUri } from "./oauth-errors.ts";

const AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"] as const;
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * RFC 7591 registration. Redirect URIs must be https, or http on a loopback host (OAuth 2.1 §8.4.2,
 * MCP authorization: "Redirect URIs MUST be either localhost or HTTPS"), without a fragment.
 */
export async function registerClient(ctx: AuthContext, body: unknown) {
  const parsed = OAuthClientMetadataSchema.safeParse(body);
  if (!parsed.success) throw new InvalidClientMetadataError(`Invalid client metadata: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`);
  const meta = parsed.data;
  if (meta.redirect_uris.length === 0) throw invalidRedirectUri("At least one redirect_uri is required");
  for (const uri of meta.redirect_uris) {
    const url = new URL(uri);
    if (url.hash) throw invalidRedirectUri(`Redirect URI must not have a fragment: ${uri}`);
    if (!(url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK.has(url.hostname)))) {
      throw invalidRedirectUri(`Redirect URI must be https or http on localhost: ${uri}`);
    }
  }
  // RFC 7591 §2: the default method is client_secret_basic.
  const method = meta.token_endpoint_auth_method ?? "client_secret_basic";
  if (!(AUTH_METHODS as readonly string[]).includes(method)) throw new InvalidClientMetadataError(`Unsupported token_endpoint_auth_method "${method}"`);
  const grantTypes = meta.grant_types ?? ["authorization_code", "refresh_token"];
  if (grantTypes.some((g) => g !== "authorization_code" && g !== "refresh_token")) throw new InvalidClientMetadataError("Only authorization_code and refresh_token grants are supported");
  if ((meta.response_types ?? ["code"]).some((r) => r !== "code")) throw new InvalidClientMetadataError('Only response_type "code" is supported');

  const client_id = randomToken("cli");
  const client_secret = method === "none" ? undefined : randomToken("cs", 32);
  const metadata = { ...meta, token_endpoint_auth_method: method, grant_types: grantTypes, response_types: ["code"] };
  await ctx.store.createClient({ client_id, secret_hash: client_secret ? sha256Hex(client_secret) : null, metadata, subject: null, created_at: new Date().toISOString() });
  return {
    ...metadata,
    client_id,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    ...(client_secret ? { client_secret, client_secret_expires_at: 0 } : {}),
  };
}

/**
 * Client authentication at /token and /revoke (RFC 6749 §2.3): HTTP Basic, client_secret in the
 * form, or none for public clients, as the client registered.
 */
export async function authenticateClient(ctx: AuthContext, request: Request, form: URLSearchParams): Promise<ClientRecord> {
  let clientId = form.get("client_id");
  let secret = form.get("client_secret");
  let usedBasic = false;
  const header = request.headers.get("authorization");
  if (header?.toLowerCase().startsWith("basic ")) {
    const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new InvalidClientError("Malformed Basic credentials");
    try {
      clientId = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    } catch {
      // A stray "%" is the client's mistake (invalid_client), not a server error.
      throw new InvalidClientError("Malformed Basic credentials");
    }
    usedBasic = true;
  }
  if (!clientId) throw new InvalidClientError("client_id is required");
  const client = await ctx.store.getClient(clientId);
  if (!client) throw new InvalidClientError("Unknown client");
  const method = client.metadata.token_endpoint_auth_method as string;
  if (method === "none") return client;
  if (!secret || !client.secret_hash) throw new InvalidClientError("Client authentication required");
  if (method === "client_secret_basic" && !usedBasic && !form.get("client_secret")) throw new InvalidClientError("Client authentication required");
  const given = Buffer.from(sha256Hex(secret));
  if (!timingSafeEqual(given, Buffer.from(client.secret_hash))) throw new InvalidClientError("Client authentication failed");
  return client;
}
