export { createChannel, getChannelInfo, listChannels, updateChannel } from "./channels.ts";
export type { CreateChannelResult, UpdateChannelResult } from "./channels.ts";
export { joinChannel, type JoinChannelResult } from "./invites.ts";
export { postMessage, syncMessages, type SyncResult } from "./messages.ts";
export { Notifier } from "./notifier.ts";
export { sealMessage, genesisHash, type Caller, type ChannelsContext } from "./context.ts";
export type { ChannelView } from "./views.ts";
export * from "./schemas.ts";
export { getTranscript } from "./transcripts.ts";
