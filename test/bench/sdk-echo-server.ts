/**
 * Bench target (b): the MCP SDK's minimal stateful `tools/call` server — one McpServer +
 * WebStandardStreamableHTTPServerTransport per session, SSE responses (not JSON mode), a single
 * `echo` tool — on bare Bun.serve with Parley's Bun.serve settings. Prints `listening on PORT`.
 *
 * Profiling variants (not used by `make bench`'s headline figures):
 *   --event-store   give each transport Parley's SessionEventStore (priming event + stored events)
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { EventBudget, SessionEventStore } from "../../src/mcp/event-store.ts";
import { benchServeOptions } from "./serve-options.ts";

const withEventStore = process.argv.includes("--event-store");
const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
const eventBudget = new EventBudget();

function buildServer(): McpServer {
  const server = new McpServer({ name: "echo", version: "1.0.0" });
  server.registerTool("echo", { description: "Echo the text back", inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  return server;
}

async function handle(req: Request): Promise<Response> {
  const sid = req.headers.get("mcp-session-id");
  if (sid) {
    const transport = sessions.get(sid);
    if (!transport) return Response.json({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }, { status: 404 });
    return transport.handleRequest(req);
  }
  if (req.method !== "POST") return new Response(null, { status: 400 });
  const body = await req.json();
  if (!isInitializeRequest(body)) return new Response(null, { status: 400 });
  const server = buildServer();
  const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    ...(withEventStore ? { eventStore: new SessionEventStore(eventBudget), retryInterval: 1_000 } : {}),
    onsessioninitialized: (id) => void sessions.set(id, transport),
    onsessionclosed: (id) => void sessions.delete(id),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await server.connect(transport);
  return transport.handleRequest(req, { parsedBody: body });
}

const http = Bun.serve({ ...benchServeOptions(), fetch: (req) => (req.url.endsWith("/mcp") ? handle(req) : new Response("Hello")) });
process.stdout.write(`listening on ${http.port}\n`);
