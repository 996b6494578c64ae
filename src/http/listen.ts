import type { Server } from "bun";
import type { Config } from "../config/index.ts";
import type { App } from "./app.ts";
import { createClientAddress } from "./client-address.ts";
import { limitRequests } from "./request-limits.ts";
import { logRequests } from "./request-log.ts";

export type ListenConfig = Pick<
  Config,
  "host" | "port" | "max_body_bytes" | "request_timeout_seconds" | "max_requests_per_address" | "trusted_proxies"
>;

/**
 * Serves the app with Bun.serve through limitRequests, inside logRequests (so a 429 is logged too).
 * Not Elysia's listen: it routes each path to its handler natively, which would leave no one place
 * that sees every request first.
 */
export function listen(app: App, config: ListenConfig): Server<undefined> {
  let server: Server<undefined> | undefined;
  const clientAddress = createClientAddress(config.trusted_proxies, (request) => server?.requestIP(request)?.address);
  server = Bun.serve({
    hostname: config.host,
    port: config.port,
    fetch: logRequests(limitRequests(app.fetch, { maxPerAddress: config.max_requests_per_address, clientAddress, idleSeconds: config.request_timeout_seconds })),
    idleTimeout: config.request_timeout_seconds,
    // A little above our own cap, so a declared oversized body gets our JSON-RPC 413 (http/guards.ts)
    // rather than Bun's bare one; the SDK transport enforces the exact cap on streamed bodies.
    maxRequestBodySize: config.max_body_bytes + 64 * 1024,
    // Never SO_REUSEPORT (Elysia's listen turns it on): a second `parley serve` on the same port
    // would then start silently and split the traffic (and with it sessions and long polls).
    reusePort: false,
    // Not Bun's development mode (it renders error pages with stack traces), whatever NODE_ENV says.
    development: false,
  });
  // Elysia's own `server` (its stop() and handlers' requestIP go through it).
  app.server = server;
  return server;
}
