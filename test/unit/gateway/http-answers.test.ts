import { afterAll, describe, expect, test } from "bun:test";
import { HttpAnswers } from "../../../src/gateway/http-answers.ts";

const MIB = 1024 * 1024;
const enc = new TextEncoder();

/** An HTTP server whose answers never end: `/line` one SSE line without end, `/events` small events without end. */
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 0,
  fetch(request) {
    const path = new URL(request.url).pathname;
    let timer: ReturnType<typeof setInterval>;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (path === "/line") controller.enqueue(enc.encode("data: "));
        timer = setInterval(() => {
          try {
            if (path === "/line") controller.enqueue(enc.encode("x".repeat(64 * 1024)));
            else controller.enqueue(enc.encode(`event: message\r\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1, pad: "y".repeat(30_000) } })}\r\n\r\n`));
          } catch {
            clearInterval(timer);
          }
        }, 1);
      },
      cancel: () => clearInterval(timer),
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
});
afterAll(() => server.stop(true));

const post = (id: number) => ({ method: "POST", body: JSON.stringify({ method: "tools/call", params: {}, jsonrpc: "2.0", id }) });

async function readAll(response: Response, limit: number): Promise<string> {
  const reader = response.body!.getReader();
  const parts: string[] = [];
  let size = 0;
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return parts.join("");
    size += value.byteLength;
    if (size > limit) throw new Error(`read ${size} bytes: the answer was not cut`);
    parts.push(decoder.decode(value, { stream: true }));
  }
}

describe("HttpAnswers", () => {
  test("an SSE event that never ends is cut at the cap, with an error answering the request it was for", async () => {
    const answers = new HttpAnswers(MIB, 60_000);
    const text = await readAll(await answers.fetch(`http://127.0.0.1:${server.port}/line`, post(7)), 4 * MIB);
    answers.close();
    expect(text).toContain("\nevent: oversized\n\n");
    const last = text.trim().split("\n").at(-1)!;
    expect(JSON.parse(last.slice("data: ".length))).toMatchObject({ jsonrpc: "2.0", id: 7, error: { message: expect.stringContaining("1 MiB") } });
  }, 20_000);

  test("small events (CRLF) pass however many there are; an answer streaming past its deadline is ended by the sweep", async () => {
    const answers = new HttpAnswers(MIB, 60_000);
    const response = await answers.fetch(`http://127.0.0.1:${server.port}/events`, post(8));
    const reader = response.body!.getReader();
    let size = 0;
    while (size < 3 * MIB) size += (await reader.read()).value!.byteLength;
    answers.sweep(performance.now() + 60_001);
    for (;;) if ((await reader.read()).done) break;
    answers.close();
  }, 20_000);

  test("the standalone GET stream has no deadline", async () => {
    const answers = new HttpAnswers(MIB, 1);
    const response = await answers.fetch(`http://127.0.0.1:${server.port}/events`, { method: "GET" });
    const reader = response.body!.getReader();
    await reader.read();
    answers.sweep(performance.now() + 60_000);
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    answers.close();
  });
});
