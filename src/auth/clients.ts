import { constantTimeEqual, sha256Hex } from "../lib/hash.ts";
import type { ClientRecord } from "../store/index.ts";
import type { AuthContext } from "./context.ts";
import { InvalidClientError } from "./oauth-errors.ts";

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
  if (!constantTimeEqual(sha256Hex(secret), client.secret_hash)) throw new InvalidClientError("Client authentication failed");
  return client;
}
