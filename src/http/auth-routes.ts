import { Elysia } from "elysia";
import {
  authorizationServerMetadata,
  handleAuthorize,
  handleRegister,
  handleRevoke,
  handleToken,
  jwks,
  protectedResourceMetadata,
  resourceForHost,
  type AuthContext,
} from "../auth/index.ts";
import { cors } from "./cors.ts";
import { errorResponse } from "./errors.ts";

/**
 * Metadata, registration and token endpoints are fetched cross-origin by browser-based clients
 * (e.g. the MCP Inspector), so they allow any origin (cors.ts).
 */
const CORS = cors({ origin: "*", methods: ["GET", "POST", "OPTIONS"], headers: ["authorization", "content-type", "mcp-protocol-version"] });

/** The OAuth 2.1 authorization server and RFC 9728 metadata, mounted on the app. */
export function authRoutes(auth: AuthContext, clientAddress: (request: Request) => string) {
  const json = (request: Request, body: unknown) => CORS.apply(request, Response.json(body));
  /** A JSON endpoint's answer, or its failure's (errors.ts), readable cross-origin either way. */
  const endpoint = (handle: (request: Request) => Promise<Response>) => async ({ request }: { request: Request }) =>
    CORS.apply(request, await handle(request).catch((err) => errorResponse(err, new URL(request.url).pathname)));
  const prm = ({ request }: { request: Request }) => json(request, protectedResourceMetadata(auth.settings, resourceForHost(auth.settings, request.headers.get("host"))));
  const asm = ({ request }: { request: Request }) => json(request, authorizationServerMetadata(auth.settings));
  return new Elysia()
    .get("/.well-known/oauth-protected-resource", prm)
    .get("/.well-known/oauth-protected-resource/mcp", prm)
    .get("/.well-known/oauth-authorization-server", asm)
    .get("/.well-known/oauth-authorization-server/mcp", asm)
    .get("/.well-known/jwks.json", ({ request }) => json(request, jwks(auth.key)))
    .options("/*", ({ request }) => CORS.preflight(request))
    .post("/register", endpoint((request) => handleRegister(auth, request, clientAddress(request))), { parse: "none" })
    .get("/authorize", ({ request }) => handleAuthorize(auth, request, clientAddress(request)))
    .post("/authorize", ({ request }) => handleAuthorize(auth, request, clientAddress(request)), { parse: "none" })
    .post("/token", endpoint((request) => handleToken(auth, request, clientAddress(request))), { parse: "none" })
    .post("/revoke", endpoint((request) => handleRevoke(auth, request)), { parse: "none" });
}
