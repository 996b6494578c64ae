import type { Config } from "../config/index.ts";
import { isLoopbackHost, LOOPBACK_HOSTNAMES } from "../lib/address.ts";

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * DNS-rebinding defence (MCP 2025-11-25 transports: servers MUST validate Origin; an invalid Origin
 * gets 403). Host must name this server; Origin, when a browser sends one, must be loopback, our
 * public URL, or a configured connector origin (claude.ai, chatgpt.com, …). Clients that are not
 * browsers (mcp-remote, the SDK) send no Origin and pass.
 */
export function createOriginGuard(config: Pick<Config, "host" | "public_url" | "allowed_origins">) {
  const publicUrl = new URL(config.public_url);
  const hosts = new Set<string>([...LOOPBACK_HOSTNAMES, publicUrl.hostname.toLowerCase()]);
  if (!WILDCARD_HOSTS.has(config.host)) hosts.add(config.host.toLowerCase());
  const anyHost = WILDCARD_HOSTS.has(config.host);
  const origins = new Set([publicUrl.origin, ...config.allowed_origins.map((o) => new URL(o).origin)]);

  /** Returns a 403 Response when the request must be refused, else null. */
  return function check(request: Request): Response | null {
    const host = hostnameOf(request.headers.get("host"));
    if (!anyHost && (host === null || !hosts.has(host))) return forbidden(`Host "${request.headers.get("host") ?? ""}" is not allowed`);
    const origin = request.headers.get("origin");
    if (origin === null) return null;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      return forbidden("Malformed Origin");
    }
    if (isLoopbackHost(parsed.hostname) || origins.has(parsed.origin)) return null;
    return forbidden(`Origin "${origin}" is not allowed`);
  };
}

/** Host headers seen, parsed: every request has one and a client sends the same one each time. */
const hostnames = new Map<string, string | null>();
const MAX_HOSTNAMES = 256;

function hostnameOf(hostHeader: string | null): string | null {
  if (!hostHeader) return null;
  const known = hostnames.get(hostHeader);
  if (known !== undefined) return known;
  let hostname: string | null;
  try {
    hostname = new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    hostname = null;
  }
  if (hostnames.size >= MAX_HOSTNAMES) hostnames.clear();
  hostnames.set(hostHeader, hostname);
  return hostname;
}

function forbidden(message: string): Response {
  return Response.json({ jsonrpc: "2.0", error: { code: -32000, message: `FORBIDDEN: ${message}` }, id: null }, { status: 403 });
}

/** Refuses a declared body over the cap before anything reads it (413). Bun enforces the same cap on streamed bodies. */
export function checkBodySize(request: Request, maxBytes: number): Response | null {
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > maxBytes) {
    return Response.json(
      { jsonrpc: "2.0", error: { code: -32000, message: `INVALID_REQUEST: Body of ${length} bytes exceeds ${maxBytes}` }, id: null },
      { status: 413 },
    );
  }
  return null;
}
