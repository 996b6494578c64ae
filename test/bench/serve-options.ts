/**
 * The Bun.serve options Parley ends up with (src/cli/serve.ts via Elysia's listen): Elysia adds
 * `development: NODE_ENV !== "production"` and `reusePort: true`; Parley sets `idleTimeout: 0`
 * and `maxRequestBodySize` = max_body_bytes (1 MiB by default). The reference servers use the same.
 */
export function benchServeOptions() {
  return {
    hostname: "127.0.0.1",
    port: 0,
    development: (process.env.NODE_ENV ?? process.env.ENV) !== "production",
    reusePort: true,
    idleTimeout: 0,
    maxRequestBodySize: 1024 * 1024,
  };
}
