import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import * as channels from "../channels/index.ts";
import type { ChannelsContext } from "../channels/index.ts";
import { AppError } from "../errors.ts";
import { toResourceError } from "./errors.ts";
import { callerFrom } from "./identity.ts";
import type { TranscriptDownloads } from "./transcript-download.ts";

const URI = /^channel:\/\/([^/]+)\/transcript$/;

/**
 * `channel://ID/transcript`: the signed transcript as a resource for members, listed
 * per caller, with `resources/subscribe` → `notifications/resources/updated` after every message,
 * for as long as the subscriber may read the channel. A read returns get_transcript's first page
 * (the whole transcript when it fits; else `more`, `cursor` and a `download_url` for the rest).
 */
export function registerTranscriptResource(server: McpServer, ctx: ChannelsContext, mayPush: () => Promise<boolean>, downloads?: TranscriptDownloads): void {
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
        const caller = callerFrom(extra);
        const channelId = String(variables.channel_id);
        const page = await channels.getTranscript(ctx, caller, { channel_id: channelId });
        const text = JSON.stringify(downloads ? { ...page, download_url: downloads.link(caller, channelId) } : page);
        return { contents: [{ uri: uri.href, mimeType: "application/json", text }] };
      } catch (err) {
        throw toResourceError(err);
      }
    },
  );

  const subscriptions = new Map<string, () => void>();
  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
    const uri = request.params.uri;
    const channelId = URI.exec(uri)?.[1];
    const caller = callerFrom(extra);
    try {
      // A well-formed id of no channel is CHANNEL_NOT_FOUND (below), as in the tools.
      if (!channelId || !channels.CHANNEL_ID.test(channelId)) throw new AppError("INVALID_REQUEST", `Cannot subscribe to ${uri}; only channel://ID/transcript`);
      await channels.getChannelInfo(ctx, caller, { channel_id: channelId });
    } catch (err) {
      throw toResourceError(err);
    }
    if (!subscriptions.has(uri)) {
      const stop = ctx.notifier.listen(channelId, () => void push().catch(() => {}));
      const push = async () => {
        // Checked at every push, like a read: a subscriber kicked, or whose seat moved to another
        // identity with its rejoin token, hears nothing more and its subscription ends.
        if (!(await channels.mayRead(ctx, caller, channelId))) {
          stop();
          if (subscriptions.get(uri) === stop) subscriptions.delete(uri);
          return;
        }
        if (await mayPush()) await server.server.sendResourceUpdated({ uri });
      };
      subscriptions.set(uri, stop);
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
