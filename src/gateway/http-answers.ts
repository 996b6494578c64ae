import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode } from "@modelcontextprotocol/sdk/types.js";

const LF = 10;
const CR = 13;
const MIB = 1024 * 1024;
/** How often answers still streaming are checked against their deadline. */
const SWEEP_MS = 5_000;

interface OpenAnswer {
  end(): void;
  until: number;
}

/**
 * The `fetch` an HTTP upstream's transport uses, with the bounds the SDK's Streamable HTTP client
 * does not have (it reads a JSON answer whole, and an SSE event of any length): one message of an
 * answer may pass `maxBytes` (the stdio transport's cap), and an answer to a POST may stream at
 * most `maxMs` (the call's timeout and a margin; the SDK stops waiting for the result then, but
 * leaves the stream open). A message over the cap is replaced by a JSON-RPC error for the request
 * it answers, so that call fails at once with the cap named and the connection keeps serving.
 * The standalone GET stream (server-initiated messages) has no deadline, only the cap.
 */
export class HttpAnswers {
  private readonly open = new Set<OpenAnswer>();
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(
    private readonly maxBytes: number,
    private readonly maxMs: number,
    private readonly base: FetchLike = fetch,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref?.();
  }

  readonly fetch: FetchLike = async (url, init) => {
    const response = await this.base(url, init);
    if (!response.body) return response;
    const type = response.headers.get("content-type") ?? "";
    if (type.startsWith("text/event-stream")) return this.sse(response, init);
    const length = Number(response.headers.get("content-length") ?? NaN);
    if (length <= this.maxBytes) return response;
    return this.whole(response, init);
  };

  /** Ends every answer still streaming (the connection is being closed). */
  close(): void {
    clearInterval(this.sweeper);
    for (const answer of [...this.open]) answer.end();
    this.open.clear();
  }

  /** Ends the answers streaming past their deadline (an upstream that never finishes one). */
  sweep(now = performance.now()): void {
    for (const answer of this.open) {
      if (answer.until > now) continue;
      answer.end();
    }
  }

  private tooBig(): string {
    return `its answer passed ${this.maxBytes / MIB} MiB in one message, the most the gateway takes`;
  }

  /** A JSON answer (or an error page) read up to the cap; over it, a JSON-RPC error for the request instead. */
  private async whole(response: Response, init: RequestInit | undefined): Promise<Response> {
    const reader = response.body!.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > this.maxBytes) {
        void reader.cancel().catch(() => {});
        const error = errorMessage(init, this.tooBig());
        if (error === null || !response.ok) throw new Error(this.tooBig());
        return Response.json(error, { status: response.status, headers: { "content-type": "application/json" } });
      }
      parts.push(value);
    }
    return new Response(new Blob(parts as BlobPart[]), { status: response.status, statusText: response.statusText, headers: response.headers });
  }

  /**
   * An SSE answer passed through as it comes, each event's bytes counted from the blank line that
   * ended the one before. A pulled ReadableStream over the body's reader: a TransformStream in
   * its place cost a proxied call about twice as much CPU (test/bench/gateway-inproc.ts).
   */
  private sse(response: Response, init: RequestInit | undefined): Response {
    const source = response.body!.getReader();
    const events = new EventBytes();
    const open = this.open;
    let answer: OpenAnswer | null = null;
    let closed = false;
    const finish = (controller?: ReadableStreamDefaultController<Uint8Array>) => {
      if (closed) return;
      closed = true;
      if (answer) open.delete(answer);
      void source.cancel().catch(() => {});
      controller?.close();
    };
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        if ((init?.method ?? "GET") === "GET") return;
        answer = { end: () => finish(controller), until: performance.now() + this.maxMs };
        open.add(answer);
      },
      pull: async (controller) => {
        const { value, done } = await source.read().catch(() => ({ value: undefined, done: true }));
        if (closed) return;
        if (done || !value) return finish(controller);
        const boundary = events.push(value);
        if (events.since <= this.maxBytes) return controller.enqueue(value);
        if (boundary > 0) controller.enqueue(value.subarray(0, boundary));
        // End the event held so far under a type the SDK skips, then answer the request with an error.
        const error = errorMessage(init, this.tooBig());
        let tail = "\nevent: oversized\n\n";
        if (error !== null) tail += `event: message\ndata: ${JSON.stringify(error)}\n\n`;
        controller.enqueue(new TextEncoder().encode(tail));
        finish(controller);
      },
      cancel: () => finish(),
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
}

/** Bytes of the SSE event in progress: counted from the last blank line (LF LF or LF CR LF), found across chunks. */
class EventBytes {
  since = 0;
  private last = 0;
  private beforeLast = 0;

  /** Counts a chunk; returns the offset just past its last blank line, or -1. */
  push(chunk: Uint8Array): number {
    let boundary = -1;
    for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) {
      const b1 = i > 0 ? chunk[i - 1]! : this.last;
      const b2 = i > 1 ? chunk[i - 2]! : i === 1 ? this.last : this.beforeLast;
      if (b1 === LF || (b1 === CR && b2 === LF)) boundary = i + 1;
    }
    this.since = boundary < 0 ? this.since + chunk.length : chunk.length - boundary;
    if (chunk.length > 1) this.beforeLast = chunk[chunk.length - 2]!;
    else if (chunk.length === 1) this.beforeLast = this.last;
    if (chunk.length > 0) this.last = chunk[chunk.length - 1]!;
    return boundary;
  }
}

/** A JSON-RPC error answering the request a POST carried (its id read only now, when needed), or null. */
function errorMessage(init: RequestInit | undefined, message: string): object | null {
  if (typeof init?.body !== "string") return null;
  try {
    const sent = JSON.parse(init.body) as { id?: unknown; method?: unknown };
    if (typeof sent.method !== "string" || (typeof sent.id !== "string" && typeof sent.id !== "number")) return null;
    return { jsonrpc: "2.0", id: sent.id, error: { code: ErrorCode.InternalError, message } };
  } catch {
    return null;
  }
}
