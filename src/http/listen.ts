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
 * Binds the port, then serves the app `build` makes for the port it got: with --port 0 the public
 * URL (the OAuth issuer, the origin guard's own origin) is known only once bound, and nothing is
 * patched after. `build` runs synchronously right after the bind, so no request reaches the server
 * before its app exists. Serves with Bun.serve through limitRequests, not Elysia's listen: that
 * routes each path to its handler natively, which would leave no one place that sees every
 * request first; inside logRequests, so a 429 is logged too.
 */
export function listen(config: ListenConfig, build: (port: number) => App): { server: Server<undefined>; app: App } {
  let server: Server<undefined> | undefined;
  let app: App | undefined;
  const clientAddress = createClientAddress(config.trusted_proxies, (request) => server?.requestIP(request)?.address);
  server = Bun.serve({
    hostname: config.host,
    port: config.port,
    fetch: logRequests(limitRequests((request) => app!.fetch(request), { maxPerAddress: config.max_requests_per_address, clientAddress, idleSeconds: config.request_timeout_seconds })),
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
  try {
    app = build(server.port!);
  } catch (err) {
    void server.stop(true);
    throw err;
  }
  // Elysia's own `server` (its stop() and handlers' requestIP go through it).
  app.server = server;
  return { server, app };
}
