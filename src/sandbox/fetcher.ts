import type { FetchRecord } from "../transcript/index.ts";
import type { Fetcher } from "./bot-engine.ts";

const MAX_BODY_BYTES = 64 * 1024;
const TIMEOUT_MS = 5_000;

/**
 * ctx.fetch for the server: only hosts the operator lists (config `bot_fetch_hosts`; none by
 * default) are fetched, without following redirects (a redirect could leave the allow-list), with a
 * time and size cap. Every outcome, refusals included, is recorded in the transcript by the caller,
 * so a replay never touches the network.
 */
export function allowListFetcher(hosts: readonly string[]): Fetcher {
  const allowed = new Set(hosts.map((h) => h.toLowerCase()));
  return async (url): Promise<FetchRecord> => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { url, error: "not a URL" };
    }
    if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || !allowed.has(parsed.hostname.toLowerCase())) {
      return { url, error: "host not allowed by this server" };
    }
    try {
      const res = await fetch(parsed, { redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length > MAX_BODY_BYTES) return { url, error: `response over ${MAX_BODY_BYTES} bytes` };
      return { url, status: res.status, body: new TextDecoder().decode(bytes) };
    } catch (err) {
      return { url, error: err instanceof Error && err.name === "TimeoutError" ? `no response within ${TIMEOUT_MS} ms` : "request failed" };
    }
  };
}
