import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { BoundedStdioServerTransport } from "../../../src/mcp/stdio-server.ts";

function harness(max: number) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const transport = new BoundedStdioServerTransport(max, stdin, stdout);
  const received: unknown[] = [];
  const answered: any[] = [];
  transport.onmessage = (m) => received.push(m);
  stdout.on("data", (chunk: Buffer) => answered.push(...chunk.toString().trim().split("\n").map((l) => JSON.parse(l))));
  return { stdin, transport, received, answered, settle: () => new Promise((r) => setImmediate(r)) };
}

const request = (id: number | string, message = "x") => JSON.stringify({ method: "tools/call", params: { name: "echo", arguments: { message } }, jsonrpc: "2.0", id });

describe("BoundedStdioServerTransport", () => {
  test("reads messages split across chunks, several in one chunk, and CRLF line ends", async () => {
    const h = harness(1024);
    await h.transport.start();
    const text = `${request(1)}\n${request(2)}\r\n${request(3)}\n`;
    for (let i = 0; i < text.length; i += 7) h.stdin.write(text.slice(i, i + 7));
    h.stdin.write("\n\n");
    await h.settle();
    expect(h.received.map((m: any) => m.id)).toEqual([1, 2, 3]);
    expect(h.answered).toEqual([]);
  });

  test("answers a message over the cap under its id (written last or first), keeps none of it, and reads the next one", async () => {
    const h = harness(100);
    await h.transport.start();
    const big = request(7, "y".repeat(500));
    h.stdin.write(big.slice(0, 60));
    h.stdin.write(big.slice(60, 300));
    h.stdin.write(`${big.slice(300)}\n${JSON.stringify({ jsonrpc: "2.0", id: "s-1", method: "ping", params: { pad: "z".repeat(200) } })}\n${request(8)}\n`);
    await h.settle();
    expect(h.answered).toEqual([
      { jsonrpc: "2.0", id: 7, error: { code: -32000, message: `INVALID_REQUEST: Message of ${big.length} bytes exceeds 100 bytes` } },
      { jsonrpc: "2.0", id: "s-1", error: { code: -32000, message: expect.stringContaining("exceeds 100 bytes") } },
    ]);
    expect(h.received.map((m: any) => m.id)).toEqual([8]);
  });

  test("a line that is not JSON gets -32700 and one that is not JSON-RPC -32600; the transport goes on", async () => {
    const h = harness(1024);
    await h.transport.start();
    h.stdin.write(`nope\n{"id": 4, "hello": 1}\n${request(5)}\n`);
    await h.settle();
    expect(h.answered.map((a) => [a.id, a.error.code])).toEqual([
      [null, -32700],
      [4, -32600],
    ]);
    expect(h.received.map((m: any) => m.id)).toEqual([5]);
  });

  test("close() stops reading and reports the close", async () => {
    const h = harness(1024);
    let closed = false;
    h.transport.onclose = () => (closed = true);
    await h.transport.start();
    await h.transport.close();
    h.stdin.write(`${request(1)}\n`);
    await h.settle();
    expect(closed).toBe(true);
    expect(h.received).toEqual([]);
  });
});
