import { Elysia } from "elysia";
import {
  authorizationServerMetadata,
  handleAuthorize,
  handleRevoke,
  handleToken,
  InvalidClientMetadataError,
  jwks,
  OAuthError,
  oauthErrorResponse,
  oauthFailure,
  protectedResourceMetadata,
  registerClient,
  resourceForHost,
  type AuthContext,
} from "../auth/index.ts";

/**
 * Metadata, registration and token endpoints are fetched cross-origin by browser-based clients
 * (e.g. the MCP Inspector), so they allow any origin; they carry no cookies or ambient authority.
 */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "authorization, content-type, mcp-protocol-version",
  "access-control-max-age": "86400",
};

function withCors(response: Response): Response {
  for (const [k, v] of Object.entries(CORS)) response.headers.set(k, v);
  return response;
}

const json = (body: unknown, status = 200) => withCors(Response.json(body, { status }));

/** The OAuth 2.1 authorization server and RFC 9728 metadata, mounted on the app. */
export function authRoutes(auth: AuthContext, clientAddress: (request: Request) => string) {
  const prm = ({ request }: { request: Request }) => json(protectedResourceMetadata(auth.settings, resourceForHost(auth.settings, request.headers.get("host"))));
  const asm = () => json(authorizationServerMetadata(auth.settings));
  return new Elysia()
    .get("/.well-known/oauth-protected-resource", prm)
    .get("/.well-known/oauth-protected-resource/mcp", prm)
    .get("/.well-known/oauth-authorization-server", asm)
    .get("/.well-known/oauth-authorization-server/mcp", asm)
    .get("/.well-known/jwks.json", () => json(jwks(auth.key)))
    .options("/*", () => withCors(new Response(null, { status: 204 })))
    .post(
      "/register",
      async ({ request }) => {
        try {
          const text = await request.text();
          if (text.length > 64 * 1024) throw new InvalidClientMetadataError("Registration request too large");
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            throw new InvalidClientMetadataError("Body must be JSON client metadata (RFC 7591)");
          }
          return json(await registerClient(auth, body), 201);
        } catch (err) {
          if (err instanceof OAuthError) return withCors(oauthErrorResponse(err, 400));
          return withCors(oauthFailure(err, "Registration"));
        }
      },
      { parse: "none" },
    )
    .get("/authorize", ({ request }) => handleAuthorize(auth, new URL(request.url).searchParams, false, clientAddress(request)))
    .post(
      "/authorize",
      async ({ request }) => {
        const form = request.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded") ? new URLSearchParams(await request.text()) : new URLSearchParams();
        return handleAuthorize(auth, form, true, clientAddress(request));
      },
      { parse: "none" },
    )
    .post("/token", async ({ request }) => withCors(await handleToken(auth, request)), { parse: "none" })
    .post("/revoke", async ({ request }) => withCors(await handleRevoke(auth, request)), { parse: "none" });
}
