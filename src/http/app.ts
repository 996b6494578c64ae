import { Elysia } from "elysia";
import { authenticate, type AuthContext, type Identity } from "../auth/index.ts";
import type { Config } from "../config/index.ts";
import { authRoutes } from "./auth-routes.ts";
import { errorResponse } from "./errors.ts";
import { createClientAddress } from "./client-address.ts";
import { cors } from "./cors.ts";
import { checkBodySize, createOriginGuard } from "./guards.ts";
import { healthEndpoint } from "./health.ts";
import { noteCaller } from "./request-log.ts";

export interface AppDeps {
  config: Config;
  version: string;
  /** The OAuth server and resource-server check; absent only in --no-auth mode. */
  auth?: AuthContext;
  /** The MCP endpoint: takes the raw Request (its body unread), the verified caller and its IP address. */
  handleMcp: (request: Request, identity: Identity | null, address: string) => Promise<Response>;
  /** GET /transcripts/:channel_id?key=…: a whole transcript, streamed (the key is its credential); throws an AppError to refuse. */
  downloadTranscript?: (request: Request, address: string) => Promise<Response>;
  /** A write the store must take for GET /healthz to answer 200; throws when it cannot. */
  probeStore?: () => void | Promise<void>;
  /** Whether an upstream of the gateway is down: GET /healthz then says "degraded" (still 200). */
  upstreamsDegraded?: () => boolean;
}

/** The HTTP surface: /mcp, the OAuth endpoints, /healthz and a landing page. Elysia is imported only in src/http. */
export function createApp({ config, version, auth, handleMcp, downloadTranscript, probeStore, upstreamsDegraded }: AppDeps) {
  const guard = createOriginGuard(config);
  // Before any route (Elysia applies hooks to routes added after them): a thrown error (e.g. the
  // store's STORAGE_UNAVAILABLE) answers JSON with its status; Elysia's own client errors stay.
  // Elysia names a thrown error by its `code` property, so ours arrive under their own codes.
  const app = new Elysia().onError(({ code, error, request }) => (ELYSIA_CLIENT_ERRORS.has(String(code)) ? undefined : errorResponse(error, new URL(request.url).pathname)));
  /** The one answer to "who is this request from" (behind trusted_proxies, the forwarded client). */
  const clientAddress = createClientAddress(config.trusted_proxies, (request) => app.server?.requestIP(request)?.address);
  if (auth) app.use(authRoutes(auth, clientAddress));
  // For load balancers and systemd: no Host or Origin check, no token, nothing secret in the answer.
  if (probeStore) app.get("/healthz", healthEndpoint(probeStore, undefined, upstreamsDegraded));
  if (downloadTranscript) {
    app.get("/transcripts/:channel_id", async ({ request }) => guard(request) ?? downloadTranscript(request, clientAddress(request)).catch((err) => errorResponse(err, new URL(request.url).pathname)));
  }
  return app
    .get("/", () => new Response(`Parley ${version}\nMCP endpoint: ${config.public_url}/mcp\n`, { headers: { "content-type": "text/plain; charset=utf-8" } }))
    .options("/mcp", ({ request }) => guard(request) ?? MCP_CORS.preflight(request))
    .all(
      "/mcp",
      async ({ request }) => guard(request) ?? MCP_CORS.apply(request, await handleMcpRequest(request)),
      // The SDK transport reads the body itself; Elysia must not consume it.
      { parse: "none" },
    );

  /** After the Origin/Host guard: the token first (MCP authorization), then the body cap, then MCP. */
  async function handleMcpRequest(request: Request): Promise<Response> {
    let identity: Identity | null = null;
    if (auth) {
      const result = await authenticate(auth, request);
      if (!result.ok) return result.response;
      identity = result.identity;
      noteCaller(request, identity.subject);
    }
    return checkBodySize(request, config.max_body_bytes) ?? handleMcp(request, identity, clientAddress(request));
  }
}

export type App = ReturnType<typeof createApp>;

const ELYSIA_CLIENT_ERRORS = new Set(["NOT_FOUND", "PARSE", "VALIDATION", "INVALID_COOKIE_SIGNATURE", "INVALID_FILE_TYPE"]);

/** The preflight passes without a token; the session and auth headers must be readable (cors.ts). */
const MCP_CORS = cors({
  origin: "echo",
  methods: ["GET", "POST", "DELETE", "OPTIONS"],
  headers: ["authorization", "content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id"],
  expose: ["mcp-session-id", "mcp-protocol-version", "www-authenticate"],
});
