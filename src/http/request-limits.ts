import type { Server } from "bun";
import { addressGroup } from "../lib/address.ts";
import { Counts } from "../lib/counts.ts";

/**
 * How long a POST's SSE answer may take once handed to Bun: longer than any call Parley serves
 * (sync_messages waits at most 25 s), and finite so that the kept-alive connection after it still
 * times out when idle.
 */
const POST_STREAM_SECONDS = 120;

export interface RequestLimitOptions {
  /** Requests one address may have in progress (being received or handled) at once. */
  maxPerAddress: number;
  clientAddress: (request: Request) => string;
  /** Bun.serve's idleTimeout, put back on a connection whose unbounded stream has ended. */
  idleSeconds: number;
}

type Fetch = (request: Request) => Response | Promise<Response>;

/**
 * Around the app's fetch, what Bun.serve's idle timeout (request_timeout_seconds) leaves open.
 * Measured on Bun 1.4.5: the idle timer bounds the headers of a kept-alive connection's next request
 * and a body that does not keep up 16 KiB/s (a first request's headers get a fixed 10 s whatever
 * the setting); it is reset by neither header nor body bytes, nor by the writes of a streamed
 * response. So:
 * - an address gets at most `maxPerAddress` requests in progress; past that, 429 and the
 *   connection closed, before anything is read: a slow-body flood holds that many connections for
 *   one timeout, not thousands forever;
 * - SSE answers (/mcp) outlive the timeout: a GET stream for as long as it lasts (it is quiet for
 *   minutes; the timeout is back once it ends), a POST's answer for POST_STREAM_SECONDS (long polls);
 * - a response sent before its request's body arrived closes the connection: Bun would otherwise
 *   keep it open until that body comes (e.g. a 401 at /mcp, or the 429 above).
 */
export function limitRequests(fetch: Fetch, { maxPerAddress, clientAddress, idleSeconds }: RequestLimitOptions) {
  // Counted per address group: an IPv6 host is its /64, not 2^64 callers.
  const inProgress = new InProgress(maxPerAddress, (request) => addressGroup(clientAddress(request)));
  return async function limitedFetch(request: Request, server: Server<undefined>): Promise<Response> {
    if (!inProgress.enter(request)) return tooManyRequests(maxPerAddress);
    let response: Response;
    try {
      response = await fetch(request);
    } finally {
      inProgress.leave(request);
    }
    if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
      if (request.method !== "GET" || !response.body) {
        server.timeout(request, POST_STREAM_SECONDS);
      } else {
        server.timeout(request, 0);
        return new Response(
          onEnd(response.body, () => server.timeout(request, idleSeconds)),
          { status: response.status, statusText: response.statusText, headers: response.headers },
        );
      }
    } else if (!request.bodyUsed && hasBody(request) && !(await bodyArrived(request))) {
      return closingAfter(response);
    }
    return response;
  };
}

/**
 * The requests in progress, counted per address only once it can matter: while fewer than `max`
 * are in progress in all, no address can be at the cap, so none is resolved (requestIP, and behind
 * a proxy X-Forwarded-For, cost about 1 µs a request, measured). From `max` on, each request in
 * progress is counted by its address, until none is left.
 */
export class InProgress {
  /** Each request's address, or null while not counted. */
  private readonly requests = new Map<Request, string | null>();
  private readonly perAddress = new Counts<string>();

  constructor(
    private readonly max: number,
    private readonly clientAddress: (request: Request) => string,
  ) {}

  /** Admits the request, or returns false when its address already has `max` in progress. */
  enter(request: Request): boolean {
    if (this.perAddress.size === 0) {
      if (this.requests.size < this.max) {
        this.requests.set(request, null);
        return true;
      }
      for (const waiting of this.requests.keys()) this.count(waiting, this.clientAddress(waiting));
    }
    const address = this.clientAddress(request);
    if (this.perAddress.of(address) >= this.max) return false;
    this.count(request, address);
    return true;
  }

  leave(request: Request): void {
    const address = this.requests.get(request);
    this.requests.delete(request);
    if (address == null) return;
    this.perAddress.remove(address);
  }

  private count(request: Request, address: string): void {
    this.requests.set(request, address);
    this.perAddress.add(address);
  }
}

/**
 * `body`, calling `ended` just before it closes: Bun keeps a timeout set on a request for the rest
 * of the connection (measured: with 0, the connection then stays open however long it idles, and
 * the next request's headers may trickle forever), but takes a new one set before the end. Only
 * for GET streams, one per session: a body read through JS forgoes Bun's direct path (hot POSTs).
 */
function onEnd(body: ReadableStream<Uint8Array>, ended: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (!done) return controller.enqueue(value);
      ended();
      controller.close();
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * Whether the body a handler left unread (a 401, a 404) is already here, read and dropped within
 * one event-loop turn (measured: a complete small body, chunked or not, is; one still on its way
 * is not). If so the connection stays usable for the client's next request.
 */
function bodyArrived(request: Request): Promise<boolean> {
  const nextTurn = new Promise<false>((resolve) => setImmediate(resolve, false));
  return Promise.race([request.arrayBuffer().then(() => true, () => false), nextTurn]);
}

function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  return length === null ? request.headers.has("transfer-encoding") : length !== "0";
}

/** The same response with `Connection: close` (RFC 9112 §9.6): Bun closes once it is sent. */
function closingAfter(response: Response): Response {
  const headers = new Headers(response.headers);
  headers.set("connection", "close");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

function tooManyRequests(max: number): Response {
  return Response.json(
    { jsonrpc: "2.0", error: { code: -32000, message: `RATE_LIMITED: More than ${max} requests in progress from this address` }, id: null },
    { status: 429, headers: { "retry-after": "1", connection: "close" } },
  );
}
