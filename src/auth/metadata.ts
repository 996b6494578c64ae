import type { AuthSettings } from "./context.ts";

/**
 * RFC 9728 protected resource metadata for /mcp (served at the root and the path-inserted URL).
 * `resource` is the URL as the client reached it (see resourceAliases).
 */
export function protectedResourceMetadata(s: AuthSettings, resource = s.resource) {
  return {
    resource,
    authorization_servers: [s.issuer],
    scopes_supported: s.knownServers,
    bearer_methods_supported: ["header"],
    resource_name: "Parley",
  };
}

/** The URL a 401 points clients to (RFC 9728 §5.1, path-inserted form). */
export function resourceMetadataUrl(resource: string): string {
  const { origin, pathname } = new URL(resource);
  return `${origin}/.well-known/oauth-protected-resource${pathname}`;
}

/** RFC 8414 authorization server metadata. */
export function authorizationServerMetadata(s: AuthSettings) {
  const authMethods = ["none", "client_secret_post", "client_secret_basic"];
  return {
    issuer: s.issuer,
    authorization_endpoint: `${s.issuer}/authorize`,
    token_endpoint: `${s.issuer}/token`,
    registration_endpoint: `${s.issuer}/register`,
    revocation_endpoint: `${s.issuer}/revoke`,
    jwks_uri: `${s.issuer}/.well-known/jwks.json`,
    scopes_supported: s.knownServers,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    // OAuth 2.1: PKCE with S256 only; `plain` is refused.
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    // RFC 9207: the authorization response carries `iss`.
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: false,
  };
}
