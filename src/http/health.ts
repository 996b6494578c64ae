/**
 * How long a probe's answer is reused. Load balancers and systemd ask every few seconds; a flood
 * of /healthz gets at most one probe write per this long, and never two at once.
 */
export const HEALTH_REUSE_MS = 1_000;

/**
 * `GET /healthz` (no auth, nothing secret): 200 `{"status":"ok"}` when the store took the probe
 * write, 503 `{"status":"unavailable"}` when it did not (its cause is in the log, once per episode,
 * under an error id). `probe` throws when the store cannot write. While `degraded()` (an upstream
 * of the gateway is down) it answers 200 `{"status":"degraded"}`: the server serves, the channels
 * and the other upstreams work; which upstream and why is for `parley status`, not this answer.
 */
export function healthEndpoint(probe: () => void | Promise<void>, reuseMs = HEALTH_REUSE_MS, degraded?: () => boolean): () => Promise<Response> {
  let last: { at: number; ok: boolean } | null = null;
  let running: Promise<boolean> | null = null;
  const check = (): Promise<boolean> => {
    if (last && performance.now() - last.at < reuseMs) return Promise.resolve(last.ok);
    running ??= (async () => {
      try {
        await probe();
        return true;
      } catch {
        return false;
      }
    })().then((ok) => {
      last = { at: performance.now(), ok };
      running = null;
      return ok;
    });
    return running;
  };
  return async () => {
    const ok = await check();
    const status = !ok ? "unavailable" : degraded?.() ? "degraded" : "ok";
    return Response.json({ status }, { status: ok ? 200 : 503, headers: { "cache-control": "no-store" } });
  };
}
