import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, ListToolsRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { AppError } from "../errors.ts";
import { isLoopbackHost, LOOPBACK_HOSTNAMES } from "../lib/address.ts";
import { toToolError } from "./errors.ts";
import { describeIssues, ToolTable } from "./server.ts";
import { BoundedStdioServerTransport } from "./stdio-server.ts";
import { jsonResult } from "./tool.ts";
import { jsonRpcError, McpEndpoint } from "./transport.ts";

/**
 * A plain MCP server of tools, for programs other than Parley's own endpoint: the example
 * upstreams (`parley example NAME`). The SDK server enters only through this folder, so they build
 * their server here, with the same tool contract as Parley's tools (our validation, so bad
 * arguments answer `INVALID_REQUEST: …`; errors as `CODE: message` with structuredContent.error),
 * and serve it on stdio or on Streamable HTTP.
 */
export interface ToolServerInfo {
  name: string;
  version: string;
  instructions?: string;
}

/** Builds one McpServer of these tools (one per stdio process, one per HTTP session). */
export function createToolServer(info: ToolServerInfo, table: ToolTable): McpServer {
  const server = new McpServer(
    { name: info.name, version: info.version },
    { capabilities: { tools: {} }, ...(info.instructions ? { instructions: info.instructions } : {}) },
  );
  server.server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: table.list }));
  server.server.setRequestHandler(CallToolRequest, async (request, extra) => {
    const tool = table.get(request.params.name);
    // MCP 2025-11-25 tools: an unknown tool is a protocol error (-32602), not a tool error.
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Tool ${request.params.name} not found`);
    try {
      const parsed = tool.input.safeParse(request.params.arguments ?? {});
      if (!parsed.success) throw new AppError("INVALID_REQUEST", `Invalid arguments for ${tool.name}: ${describeIssues(parsed.error)}`);
      // No tokens here: whoever reaches this process (its parent on stdio, loopback over HTTP) calls it.
      const caller = { principal: extra.sessionId ? `session:${extra.sessionId}` : "stdio" };
      const result = await tool.run(parsed.data, { caller, signal: extra.signal, extra });
      return tool.raw ? (result as never) : jsonResult(result);
    } catch (err) {
      return toToolError(err, tool.name);
    }
  });
  return server;
}

/** As server.ts: loose, so a malformed `arguments` is the SDK's -32602, not a ZodError's -32603. */
const CallToolRequest = z.looseObject({
  method: z.literal("tools/call"),
  params: z.looseObject({ name: z.string(), arguments: z.unknown().optional() }),
});

/** The largest message an example takes, on stdio as over HTTP (its largest argument, python's code, is 256 KiB). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Serves one server on this process's stdin/stdout (MCP stdio transport: newline-delimited JSON-RPC;
 * stdout carries nothing else). Resolves when the client goes: stdin ends or the transport closes.
 */
export async function serveStdio(server: McpServer, maxMessageBytes = MAX_MESSAGE_BYTES): Promise<void> {
  const transport = new BoundedStdioServerTransport(maxMessageBytes);
  const ended = new Promise<void>((resolve) => {
    // The SDK's stdio transport does not watch for the end of stdin; the parent closing it is how it says goodbye.
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
    transport.onclose = resolve;
  });
  await server.connect(transport);
  await ended;
  await server.close().catch(() => {});
}

export interface HttpToolServerOptions {
  host: string;
  /** 0 picks a free port (`url` tells which). */
  port: number;
  createServer: () => McpServer;
  /** Sessions kept at once; the least recently used goes beyond (its client re-initializes). */
  maxSessions?: number;
  idleMs?: number;
  maxBodyBytes?: number;
}

export interface HttpToolServer {
  /** The MCP endpoint, e.g. http://127.0.0.1:9004/mcp. */
  url: string;
  stop(): Promise<void>;
}

/** A tool call may run this long (a python run's 60 s cap, a docker run's 300 s) before Bun drops its quiet connection. */
const CALL_STREAM_SECONDS = 330;

/**
 * Streamable HTTP at /mcp (stateful sessions, SSE answers: McpEndpoint, the same session table as
 * Parley's own endpoint, with no token). On a loopback address, Host must name loopback and a
 * browser's Origin must be loopback (MCP 2025-11-25 transports: servers MUST validate Origin, and
 * SHOULD bind to localhost only), so a web page cannot reach it through DNS rebinding.
 */
export function serveHttp(options: HttpToolServerOptions): HttpToolServer {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_MESSAGE_BYTES;
  const endpoint = new McpEndpoint({
    createServer: () => options.createServer(),
    idleMs: options.idleMs ?? 30 * 60_000,
    maxBodyBytes,
    answerTurns: 0,
    maxSessions: options.maxSessions ?? 256,
  });
  const loopbackOnly = isLoopbackHost(options.host);
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    // Bun would refuse a declared length above its cap before `fetch`, with a bare 413 the client
    // cannot explain; boundedBody() below answers it with the reason instead, and caps a chunked body.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    async fetch(request, bunServer) {
      const url = new URL(request.url);
      if (url.pathname !== "/mcp") return new Response("Not found; the MCP endpoint is /mcp\n", { status: 404 });
      if (loopbackOnly && !fromLoopback(request)) return jsonRpcError(403, -32000, "FORBIDDEN: Host or Origin is not loopback");
      // Bun's idle timeout would cut a call's answer that is quiet while the call runs.
      bunServer.timeout(request, request.method === "GET" ? 0 : CALL_STREAM_SECONDS);
      const address = bunServer.requestIP(request)?.address ?? "";
      const bounded = await boundedBody(request, maxBodyBytes);
      return bounded instanceof Response ? bounded : endpoint.handle(bounded, null, address);
    },
  });
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${server.port}/mcp`,
    async stop() {
      await endpoint.close();
      await server.stop(true);
    },
  };
}

/**
 * The request with a body of at most `max` bytes, or the JSON-RPC 413 saying why not. A declared
 * length is checked unread (Bun frames the body by it); a chunked body is read up to the cap.
 */
async function boundedBody(request: Request, max: number): Promise<Request | Response> {
  const tooLarge = (size: string) => jsonRpcError(413, -32000, `INVALID_REQUEST: Body ${size}exceeds ${max} bytes`);
  if (!request.body) return request;
  const declared = request.headers.get("content-length");
  if (declared !== null) return Number(declared) > max ? tooLarge(`of ${declared} bytes `) : request;
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => {});
      return tooLarge("");
    }
    chunks.push(value);
  }
  return new Request(request.url, { method: request.method, headers: request.headers, body: Buffer.concat(chunks) });
}

const LOOPBACK_NAMES = new Set<string>(LOOPBACK_HOSTNAMES);

function fromLoopback(request: Request): boolean {
  const host = hostnameOf(request.headers.get("host"));
  if (host === null || !LOOPBACK_NAMES.has(host)) return false;
  const origin = request.headers.get("origin");
  return origin === null || LOOPBACK_NAMES.has(hostnameOf(origin.replace(/^[a-z]+:\/\//i, "")) ?? "");
}

function hostnameOf(hostHeader: string | null): string | null {
  if (!hostHeader) return null;
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    return null;
  }
}
