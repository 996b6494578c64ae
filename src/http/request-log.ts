import type { Server } from "bun";
import { toAppError } from "../errors.ts";
import { log, shortId } from "../lib/log.ts";

type Fetch = (request: Request, server: Server<undefined>) => Response | Promise<Response>;

/** The verified caller of each request that has one (set by the app, read when its line is written). */
const callers = new WeakMap<Request, string>();

/** Records who a request speaks for (the token's subject), for its log line. */
export function noteCaller(request: Request, principal: string): void {
  callers.set(request, principal);
}

/** Longest path written; the rest is cut (a path is the client's to choose). */
const MAX_PATH_CHARS = 200;

/**
 * Around everything Bun.serve answers: one `request` line per request (method, path, status, ms to
 * the response's head, for an SSE answer its start; the caller when verified). The path is written
 * without its query string, which may carry secrets (a transcript download's `key=`, an OAuth
 * `code=`, a misplaced `access_token=`); headers and bodies never are. /healthz 200s are written
 * only at debug: load balancers ask every few seconds. A request whose handler throws is answered
 * 500 with an error id, logged once by toAppError.
 */
export function logRequests(fetch: Fetch): Fetch {
  return (request, server) => {
    const started = performance.now();
    let answer: Response | Promise<Response>;
    try {
      answer = fetch(request, server);
    } catch (err) {
      answer = Promise.reject(err);
    }
    return Promise.resolve(answer).then(
      (response) => {
        written(request, response.status, started);
        return response;
      },
      (err: unknown) => {
        const e = toAppError(err, pathOf(request.url));
        written(request, 500, started);
        return Response.json({ error: "server_error", error_description: e.toString() }, { status: 500, headers: { "cache-control": "no-store" } });
      },
    );
  };
}

function written(request: Request, status: number, started: number): void {
  if (!log.enabled("info")) return;
  const path = pathOf(request.url);
  const fields = { method: request.method, path, status, ms: Math.round((performance.now() - started) * 100) / 100, caller: callerOf(request) };
  if (status === 200 && path === "/healthz") log.debug("request", fields);
  else log.info("request", fields);
}

function callerOf(request: Request): string | undefined {
  const principal = callers.get(request);
  return principal === undefined ? undefined : shortId(principal);
}

/** The path of an absolute request URL, without query string (Bun's request.url is absolute). */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  let end = url.indexOf("?", start);
  if (end < 0) end = url.length;
  return url.slice(start, Math.min(end, start + MAX_PATH_CHARS));
}
