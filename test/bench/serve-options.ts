/**
 * The Bun.serve options Parley ends up with (src/http/listen.ts): `development: false`,
 * `reusePort: false`, `idleTimeout` = request_timeout_seconds (10 by default; Parley lifts it for
 * SSE answers) and `maxRequestBodySize` ≈ max_body_bytes (1 MiB by default). The reference servers
 * use the same.
 */
export function benchServeOptions() {
  return {
    hostname: "127.0.0.1",
    port: 0,
    development: false,
    reusePort: false,
    idleTimeout: 10,
    maxRequestBodySize: 1024 * 1024,
  };
}
