import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError, SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import * as channels from "../channels/index.ts";
import type { ChannelsContext } from "../channels/index.ts";
import { AppError, toAppError } from "../errors.ts";
import { callerFrom } from "./identity.ts";

const URI = /^channel:\/\/(chn_[A-Za-z0-9_-]{8,64})\/transcript$/;

/** AppError → JSON-RPC error for resource requests (codes there must be integers; the text keeps ours). */
function toMcpError(err: unknown): McpError {
  const e = toAppError(err);
  return new McpError(e.status >= 500 ? ErrorCode.InternalError : ErrorCode.InvalidParams, e.toString());
}

/**
 * `channel://ID/transcript` (DESIGN.md §4): the signed transcript as a resource for members, listed
 * per caller, with `resources/subscribe` → `notifications/resources/updated` after every message.
 */
export function registerTranscriptResource(server: McpServer, ctx: ChannelsContext, mayPush: () => Promise<boolean>): void {
  server.registerResource(
    "transcript",
    new ResourceTemplate("channel://{channel_id}/transcript", {
      list: async (extra) => {
        const { channels: mine } = await channels.listChannels(ctx, callerFrom(extra));
        return { resources: mine.map((c) => ({ uri: `channel://${c.channel_id}/transcript`, name: `${c.name} (transcript)`, mimeType: "application/json" })) };
      },
    }),
    { title: "Signed channel transcript", mimeType: "application/json" },
    async (uri, variables, extra) => {
      try {
        const transcript = await channels.getTranscript(ctx, callerFrom(extra), { channel_id: String(variables.channel_id) });
        return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(transcript) }] };
      } catch (err) {
        throw toMcpError(err);
      }
    },
  );

  const subscriptions = new Map<string, () => void>();
  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
    const uri = request.params.uri;
    const channelId = URI.exec(uri)?.[1];
    try {
      if (!channelId) throw new AppError("INVALID_REQUEST", `Cannot subscribe to ${uri}; only channel://ID/transcript`);
      await channels.getChannelInfo(ctx, callerFrom(extra), { channel_id: channelId });
    } catch (err) {
      throw toMcpError(err);
    }
    if (!subscriptions.has(uri)) {
      const push = async () => {
        if (await mayPush()) await server.server.sendResourceUpdated({ uri });
      };
      subscriptions.set(uri, ctx.notifier.listen(channelId, () => void push().catch(() => {})));
    }
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.get(request.params.uri)?.();
    subscriptions.delete(request.params.uri);
    return {};
  });
  const previous = server.server.onclose;
  server.server.onclose = () => {
    previous?.();
    for (const stop of subscriptions.values()) stop();
    subscriptions.clear();
  };
}
