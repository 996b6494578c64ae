/**
 * The Bun.serve options Parley ends up with (src/cli/serve.ts via Elysia's listen): Parley sets
 * `development: false`, `reusePort: false`, `idleTimeout: 0` and `maxRequestBodySize` ≈ max_body_bytes
 * (1 MiB by default). The reference servers use the same.
 */
export function benchServeOptions() {
  return {
    hostname: "127.0.0.1",
    port: 0,
    development: false,
    reusePort: false,
    idleTimeout: 0,
    maxRequestBodySize: 1024 * 1024,
  };
}
