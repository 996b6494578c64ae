import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { startExample, type Transport } from "../helpers/example-upstream.ts";

// What reaches an example before any tool runs: messages too large for it, lines that are not
// JSON-RPC, requests from a browser page. Each is refused with a clear error and the example goes on.

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const MiB = 1024 * 1024;

for (const transport of ["stdio", "http"] as Transport[]) {
  describe(`parley example over ${transport}: oversized messages`, () => {
    for (const size of [5 * MiB, 12 * MiB]) {
      test(`a ${size / MiB} MiB call is refused with INVALID_REQUEST naming the 4 MiB cap; the example still serves`, async () => {
        await using ex = await startExample("code", transport);
        const refused = await ex.raw("echo", { message: "x".repeat(size) }).then(
          (r) => JSON.stringify(r),
          (e: Error) => e.message,
        );
        expect(refused).toContain("INVALID_REQUEST");
        expect(refused).toMatch(/exceeds 4194304 bytes/);
        expect(await ex.call("echo", { message: "alive" })).toEqual({ message: "alive" });
      });
    }
  });
}

describe("parley example over HTTP: a chunked body", () => {
  test("with no declared length is read only up to the cap, then refused with 413 INVALID_REQUEST", async () => {
    await using ex = await startExample("code", "http");
    const url = (ex.client.transport as unknown as { _url: URL })._url;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64 * MiB) return controller.close();
        sent += MiB;
        controller.enqueue(new Uint8Array(MiB).fill(0x20));
      },
    });
    const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", accept: "application/json, text/event-stream" } });
    expect(res.status).toBe(413);
    expect((await res.json()).error.message).toBe("INVALID_REQUEST: Body exceeds 4194304 bytes");
    expect(sent).toBeLessThan(64 * MiB);
    expect(await ex.call("echo", { message: "alive" })).toEqual({ message: "alive" });
  });
});

describe("parley example over stdio: lines that are not JSON-RPC", () => {
  test("garbage and half messages get a JSON-RPC error (id null) and the next request is answered", async () => {
    const proc = Bun.spawn([process.execPath, MAIN, "example", "code"], { stdin: "pipe", stdout: "pipe", stderr: "ignore" });
    const send = (line: string) => proc.stdin.write(line + "\n");
    send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } }));
    send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
    send("this is not json");
    send('{"jsonrpc": "2.0", "id": 2, "method": ');
    send(JSON.stringify({ nope: true }));
    send(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "echo", arguments: { message: "alive" } } }));
    await proc.stdin.flush();
    const lines: any[] = [];
    let buffer = "";
    for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts.map((l) => JSON.parse(l)));
      if (lines.some((l) => l.id === 3)) break;
    }
    proc.kill();
    await proc.exited;
    expect(lines.filter((l) => l.id === null).map((l) => l.error.code)).toEqual([-32700, -32700, -32600]);
    expect(lines.find((l) => l.id === 3).result.structuredContent).toEqual({ message: "alive" });
  });
});

describe("parley example over HTTP: who may call it", () => {
  test("a browser page's Origin or a rebinding Host is 403 FORBIDDEN; loopback is served; other paths are 404", async () => {
    await using ex = await startExample("code", "http");
    const url = (ex.client.transport as unknown as { _url: URL })._url;
    const init = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
    const post = (headers: Record<string, string>) =>
      fetch(url, { method: "POST", body: init, headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } });
    const fromPage = await post({ origin: "http://evil.example.com" });
    expect(fromPage.status).toBe(403);
    expect(await fromPage.text()).toContain("FORBIDDEN");
    expect((await post({ host: "evil.example.com" })).status).toBe(403);
    expect((await post({ origin: `http://localhost:${url.port}` })).status).toBe(200);
    expect((await fetch(new URL("/other", url))).status).toBe(404);
  });
});
