import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, ListToolsRequestSchema, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { AppError } from "../errors.ts";
import type { Gateway } from "../gateway/index.ts";
import { toToolError } from "./errors.ts";
import { CHANNELS, type Identity } from "../identity.ts";
import { callerFrom, identityOf } from "./identity.ts";
import type { ChannelsContext } from "../channels/index.ts";
import { registerGuides } from "./resources.ts";
import type { TranscriptDownloads } from "./transcript-download.ts";
import { registerTranscriptResource } from "./transcript-resource.ts";
import { callGatewayTool } from "./tools/gateway.ts";
import { registerUpstreamExtras } from "./upstream-extras.ts";
import { jsonResult, type ToolDef, type ToolExtra } from "./tool.ts";
import type { SessionAuth } from "./transport.ts";

/** Calls longer than this re-check the caller's token before answering. */
const LONG_CALL_MS = 1_000;

export interface McpServerOptions {
  version: string;
  /** Channels for the transcript resource and its subscriptions. */
  channels: ChannelsContext;
  /**
   * Re-checks a caller verified earlier (auth's one revocation rule): after a long call (a
   * sync_messages long poll), so nothing is delivered to a token revoked or expired while the call
   * waited, and before each push. Absent in --no-auth mode.
   */
  stillAuthorized?: (identity: Identity) => Promise<boolean>;
  /** The caller of the session's latest request: pushes (resource updates) go out only while it holds. */
  auth?: SessionAuth;
  /** Download links for whole transcripts (the transcript resource names one). */
  downloads?: TranscriptDownloads;
  /** Extra registrations (the conformance fixture entry point uses this; the product does not). */
  configure?: (server: McpServer) => void;
  /** The upstream tools (`SERVER_TOOL`); absent when the config has no upstream. */
  gateway?: Gateway;
  /** The grant of a caller without a token (--no-auth only): what a sign-in gets, default_servers. */
  defaultGrant?: readonly string[];
}

/** A tool table shared by every session: JSON Schemas are computed once, not per session. */
export class ToolTable {
  readonly list: Tool[];
  private readonly byName: Map<string, ToolDef>;

  constructor(tools: ToolDef[]) {
    this.byName = new Map(tools.map((t) => [t.name, t]));
    this.list = tools.map((t) => ({
      name: t.name,
      ...(t.title ? { title: t.title } : {}),
      description: t.description,
      inputSchema: z.toJSONSchema(t.input, { io: "input" }) as Tool["inputSchema"],
      ...(t.annotations ? { annotations: t.annotations } : {}),
    }));
  }

  get(name: string): ToolDef | undefined {
    return this.byName.get(name);
  }
}

export function createMcpServer(options: McpServerOptions & { table: ToolTable }): McpServer {
  const server = new McpServer(
    { name: "parley", title: "Parley", version: options.version },
    {
      capabilities: { tools: { listChanged: true }, resources: { listChanged: true } },
      instructions: "Shared channels for AI sessions. Read doc://quick-start first; doc://bots to write a referee bot.",
    },
  );
  registerGuides(server);
  const { auth, stillAuthorized } = options;
  // A push is checked like a request: nothing goes out under a token revoked or expired since.
  const mayPush = async () => !auth?.current || !stillAuthorized || (await stillAuthorized(auth.current));
  registerTranscriptResource(server, options.channels, mayPush, options.downloads);
  options.configure?.(server);

  const { table, gateway } = options;
  // What the caller's grant names, read from the request's verified token: checked at every
  // tools/list and every call, so a narrower or revoked grant holds from the next request on.
  const defaultGrant = options.defaultGrant ?? [CHANNELS];
  const grantOf = (extra: Pick<ToolExtra, "authInfo">) => identityOf(extra)?.servers ?? defaultGrant;
  if (gateway) registerUpstreamExtras(server, gateway, grantOf);
  server.server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => {
    const grant = grantOf(extra);
    const own = grant.includes(CHANNELS) ? table.list : [];
    const upstream = gateway?.listTools(grant) ?? [];
    return { tools: upstream.length === 0 ? own : [...own, ...upstream] };
  });
  server.server.setRequestHandler(LooseCallToolRequestSchema, async (request, extra) => {
    const { name } = request.params;
    const tool = table.get(name);
    if (!tool) {
      if (gateway?.serves(name)) return callGatewayTool(gateway, () => ({ subject: callerFrom(extra).principal, grant: grantOf(extra) }), name, request.params.arguments, extra);
      // Unknown tool is a protocol error (MCP 2025-11-25 tools: "Unknown tools" → -32602).
      throw new McpError(ErrorCode.InvalidParams, `Tool ${name} not found`);
    }
    // A tool outside the grant is refused, not hidden as unknown: the caller learns why.
    if (!grantOf(extra).includes(CHANNELS)) return toToolError(new AppError("FORBIDDEN", `Tool "${name}" is outside your grant: the channel tools need "${CHANNELS}"`), name);
    try {
      const parsed = tool.input.safeParse(request.params.arguments ?? {});
      if (!parsed.success) throw new AppError("INVALID_REQUEST", `Invalid arguments for ${tool.name}: ${describeIssues(parsed.error)}`);
      const started = Date.now();
      const result = await tool.run(parsed.data, { caller: callerFrom(extra), signal: extra.signal, extra });
      // Checked at the request's start; a call that waited (long poll) is checked again before it answers.
      const identity = Date.now() - started > LONG_CALL_MS && options.stillAuthorized ? identityOf(extra) : null;
      if (identity && !(await options.stillAuthorized!(identity))) {
        throw new AppError("UNAUTHENTICATED", "Your token was revoked or expired while this call waited; sign in again");
      }
      return tool.raw ? (result as never) : jsonResult(result);
    } catch (err) {
      return toToolError(err, tool.name);
    }
  });
  return server;
}

/**
 * tools/call as the SDK's Server expects it, but loose: the Server wraps this handler and validates
 * the request against CallToolRequestSchema itself, answering -32602 for malformed params (e.g.
 * `arguments` that is not an object). With the strict schema here, the same failure escaped as a
 * raw ZodError → -32603 Internal error. Argument contents are validated by each tool's own schema.
 */
const LooseCallToolRequestSchema = z.looseObject({
  method: z.literal("tools/call"),
  params: z.looseObject({ name: z.string(), arguments: z.unknown().optional() }),
});

/** The first few issues of a failed parse, as `path: message`, for INVALID_REQUEST texts. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "arguments"}: ${i.message}`)
    .join("; ");
}
