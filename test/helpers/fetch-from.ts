import http from "node:http";

/**
 * A fetch whose connections leave from `localAddress` (e.g. 127.0.0.2: all of 127/8 is loopback
 * on Linux), so one test machine can play callers from several addresses. Bun's fetch cannot bind
 * a source address; node:http can. Streams the response body, so SSE and long polls work.
 */
export function fetchFrom(localAddress: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => (headers[key] = value));
    return new Promise<Response>((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, path: url.pathname + url.search, method: request.method, headers, localAddress, family: 4, agent: false },
        (res) => {
          const stream = new ReadableStream<Uint8Array>({
            start(controller) {
              res.on("data", (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
              res.on("end", () => controller.close());
              res.on("error", (err) => controller.error(err));
            },
            cancel() {
              res.destroy();
            },
          });
          const answer = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) answer.set(k, Array.isArray(v) ? v.join(", ") : v);
          const status = res.statusCode ?? 0;
          resolve(new Response(status === 204 || status === 304 ? null : stream, { status, headers: answer }));
        },
      );
      request.signal.addEventListener("abort", () => req.destroy(new Error("aborted")), { once: true });
      req.on("error", reject);
      req.end(body);
    });
  }) as typeof fetch;
}
