/**
 * CORS (Fetch standard, "CORS protocol") for the routes browser-based MCP clients (e.g. the
 * Inspector) call cross-origin. Two policies:
 * - `origin: "*"`: OAuth metadata, /register, /token, /revoke. They carry no cookies or ambient
 *   authority, so any origin may read them.
 * - `origin: "echo"`: /mcp, behind the Origin guard (guards.ts), which has already refused origins
 *   that are not allowed: the request's Origin is allowed back (`Vary: Origin`), and the headers a
 *   client must read (the session id, the 401's WWW-Authenticate) are exposed.
 */
export interface CorsPolicy {
  origin: "*" | "echo";
  methods: string[];
  /** Request headers a preflight may announce (Access-Control-Allow-Headers). */
  headers: string[];
  /** Response headers scripts may read (Access-Control-Expose-Headers). */
  expose?: string[];
}

export interface Cors {
  /** The answer to a preflight (OPTIONS): 204, the methods and headers allowed, cached a day. */
  preflight(request: Request): Response;
  /** Adds the policy's headers to any response (in place). */
  apply(request: Request, response: Response): Response;
}

export function cors(policy: CorsPolicy): Cors {
  const preflightHeaders = {
    "access-control-allow-methods": policy.methods.join(", "),
    "access-control-allow-headers": policy.headers.join(", "),
    "access-control-max-age": "86400",
  };
  const expose = policy.expose?.join(", ");
  const apply = (request: Request, response: Response): Response => {
    if (policy.origin === "*") {
      response.headers.set("access-control-allow-origin", "*");
    } else {
      const origin = request.headers.get("origin");
      if (!origin) return response;
      response.headers.set("access-control-allow-origin", origin);
      response.headers.append("vary", "Origin");
    }
    if (expose) response.headers.set("access-control-expose-headers", expose);
    return response;
  };
  return {
    preflight: (request) => apply(request, new Response(null, { status: 204, headers: preflightHeaders })),
    apply,
  };
}
