import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { Gateway } from "../gateway/index.ts";
import { toResourceError } from "./errors.ts";
import { callerFrom } from "./identity.ts";
import type { ToolExtra } from "./tool.ts";

type Handler = (request: any, extra: ToolExtra) => Promise<any>;

/**
 * Upstream resources and prompts beside Parley's own (issue 11: resources and prompts where the
 * upstream has them). Parley's own resources are registered with the SDK's McpServer, which owns
 * the resources/* handlers; those are extended here: a listing gets the upstream resources the
 * caller's grant reaches appended, and a read of an upstream URI goes to the gateway, anything
 * else to McpServer as before. Prompts are only the upstreams' (Parley has none of its own), and
 * declared only while an upstream is configured.
 * Grants are checked at every listing and every read, as for tools.
 */
export function registerUpstreamExtras(server: McpServer, gateway: Gateway, grantOf: (extra: ToolExtra) => readonly string[]): void {
  const subject = (extra: ToolExtra) => ({ subject: callerFrom(extra).principal, grant: grantOf(extra) });

  extend(server, ListResourcesRequestSchema, async (request, extra, inner) => {
    const own = inner ? await inner(request, extra) : { resources: [] };
    // Parley's own list is one page; upstream resources come with it.
    return { ...own, resources: [...own.resources, ...gateway.listResources(grantOf(extra))] };
  });
  extend(server, ListResourceTemplatesRequestSchema, async (request, extra, inner) => {
    const own = inner ? await inner(request, extra) : { resourceTemplates: [] };
    return { ...own, resourceTemplates: [...own.resourceTemplates, ...gateway.listResourceTemplates(grantOf(extra))] };
  });
  extend(server, ReadResourceRequestSchema, async (request, extra, inner) => {
    const uri: string = request.params.uri;
    if (!gateway.ownsResource(uri)) {
      if (!inner) throw new McpError(ErrorCode.InvalidParams, `Resource ${uri} not found`);
      return inner(request, extra);
    }
    try {
      return await gateway.readResource(subject(extra), uri, { signal: extra.signal });
    } catch (err) {
      throw toResourceError(err, "upstream resource");
    }
  });
  // Capabilities are fixed at initialize: a session opened while no upstream is configured has no
  // prompts (it sees upstream tools and resources a reload adds; prompts after it reconnects).
  if (gateway.servers.length === 0) return;
  server.server.registerCapabilities({ prompts: { listChanged: true } });
  extend(server, ListPromptsRequestSchema, async (request, extra, inner) => {
    const own = inner ? await inner(request, extra) : { prompts: [] };
    return { ...own, prompts: [...own.prompts, ...gateway.listPrompts(grantOf(extra))] };
  });
  extend(server, GetPromptRequestSchema, async (request, extra, inner) => {
    const name: string = request.params.name;
    if (!gateway.servesPrompt(name)) {
      if (!inner) throw new McpError(ErrorCode.InvalidParams, `Prompt ${name} not found`);
      return inner(request, extra);
    }
    try {
      return await gateway.getPrompt(subject(extra), name, request.params.arguments, { signal: extra.signal });
    } catch (err) {
      throw toResourceError(err, "upstream prompt");
    }
  });
}

/**
 * Replaces the handler of `schema`'s method with `handler`, which gets the one it replaces (the
 * SDK McpServer's, if it registered one) to delegate to. The SDK keeps its handlers in a private
 * map and offers no getter: this is the one place that reads it (a test lists Parley's own
 * resources through the extended handler, so an SDK that moved it fails there, not in production).
 */
function extend(server: McpServer, schema: Parameters<McpServer["server"]["setRequestHandler"]>[0], handler: (request: any, extra: ToolExtra, inner?: Handler) => Promise<any>): void {
  const method = (schema as unknown as { shape: { method: { value: string } } }).shape.method.value;
  const handlers = (server.server as unknown as { _requestHandlers: Map<string, Handler> })._requestHandlers;
  const inner = handlers.get(method);
  server.server.setRequestHandler(schema, (request, extra) => handler(request, extra as ToolExtra, inner));
}
