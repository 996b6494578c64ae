import { Elysia } from "elysia";
import { authenticate, type AuthContext, type Identity } from "../auth/index.ts";
import type { Config } from "../config/index.ts";
import { authRoutes } from "./auth-routes.ts";
import { checkBodySize, createOriginGuard } from "./guards.ts";

export interface AppDeps {
  config: Config;
  version: string;
  /** The OAuth server and resource-server check; absent only in --no-auth mode. */
  auth?: AuthContext;
  /** The MCP endpoint: takes the raw Request (its body unread) and the verified caller. */
  handleMcp: (request: Request, identity: Identity | null) => Promise<Response>;
}

/** The HTTP surface: /mcp, the OAuth endpoints and a landing page. Elysia is imported only in src/http. */
export function createApp({ config, version, auth, handleMcp }: AppDeps) {
  const guard = createOriginGuard(config);
  const app = new Elysia();
  const clientAddress = (request: Request) => app.server?.requestIP(request)?.address ?? "unknown";
  if (auth) app.use(authRoutes(auth, clientAddress));
  return app
    .get("/", () => new Response(`Parley ${version}\nMCP endpoint: ${config.public_url}/mcp\n`, { headers: { "content-type": "text/plain; charset=utf-8" } }))
    .all(
      "/mcp",
      async ({ request }) => {
        const refused = guard(request);
        if (refused) return refused;
        let identity: Identity | null = null;
        if (auth) {
          // The token is checked before anything else touches the request (MCP authorization).
          const result = await authenticate(auth, request);
          if (!result.ok) return result.response;
          identity = result.identity;
        }
        return checkBodySize(request, config.max_body_bytes) ?? handleMcp(request, identity);
      },
      // The SDK transport reads the body itself; Elysia must not consume it.
      { parse: "none" },
    );
}

export type App = ReturnType<typeof createApp>;
