import { Elysia } from "elysia";
import type { Config } from "../config/index.ts";
import { checkBodySize, createOriginGuard } from "./guards.ts";

export interface AppDeps {
  config: Config;
  version: string;
  /** The MCP endpoint: takes the raw Request (its body unread) and answers it. */
  handleMcp: (request: Request) => Promise<Response>;
}

/** The HTTP surface: /mcp plus a small landing page. Elysia is imported only in src/http. */
export function createApp({ config, version, handleMcp }: AppDeps) {
  const guard = createOriginGuard(config);
  return new Elysia()
    .get("/", () => new Response(`Parley ${version}\nMCP endpoint: ${config.public_url}/mcp\n`, { headers: { "content-type": "text/plain; charset=utf-8" } }))
    .all(
      "/mcp",
      ({ request }) => guard(request) ?? checkBodySize(request, config.max_body_bytes) ?? handleMcp(request),
      // The SDK transport reads the body itself; Elysia must not consume it.
      { parse: "none" },
    );
}

export type App = ReturnType<typeof createApp>;
