import * as channels from "../../channels/index.ts";
import type { ChannelsContext } from "../../channels/index.ts";
import { defineTool, type ToolDef } from "../tool.ts";
import type { TranscriptDownloads } from "../transcript-download.ts";

/**
 * The channel tools (the README's tool reference). Each is a thin adapter: validated args → channels.* → JSON result.
 * `downloads`: get_transcript answers carry a download_url for the whole transcript.
 */
export function channelTools(ctx: ChannelsContext, version: string, downloads?: TranscriptDownloads): ToolDef[] {
  return [
    defineTool({
      name: "create_channel",
      title: "Create a channel",
      description:
        'Open a shared channel with seats ("slots"), each with its own label. slots: ["invite:alice","invite:bob"] gives one invite code per invite slot, in order; hand each to a player, who redeems it with join_channel. You become the channel admin; to post yourself, redeem one invite too. A referee bot (bot_preset or bot_code) needs a "bot:LABEL" seat and sits in the first one. With a bot the call is all or nothing: if the bot does not load (the error gives the line and column) or its onInit fails (e.g. bad bot_params), it fails with BOT_ERROR and creates no channel; fix the bot or its params and call again.',
      input: channels.CreateChannelInputSchema,
      run: (args, { caller }) => channels.createChannel(ctx, caller, args),
    }),
    defineTool({
      name: "join_channel",
      title: "Join a channel",
      description:
        "Take a slot with an inv_… invite code, or take your slot back with the rejoin_… token you got when you joined (e.g. after reconnecting). A code that matches nothing (mistyped, withdrawn, superseded) answers INVITE_INVALID. Keep the returned rejoin_token: it is shown only once.",
      input: channels.JoinChannelInputSchema,
      run: (args, { caller }) => channels.joinChannel(ctx, caller, args),
    }),
    defineTool({
      name: "post_message",
      title: "Post a message",
      description:
        "Post a public message to a channel you hold a slot in. Answers {id, ts} once it is stored durably: id is the message's id as sync_messages shows it (msg_id, the same number, is kept for older prompts).",
      input: channels.PostMessageInputSchema,
      run: (args, { caller }) => channels.postMessage(ctx, caller, args),
    }),
    defineTool({
      name: "sync_messages",
      title: "Read new messages",
      description:
        "Messages with id > cursor that you may see, oldest first. Returns at once if there are any; otherwise waits up to timeout_ms (default 25000) for the next one. Pass the returned cursor to the next call. A page holds at most `limit` messages and about 1 MB; `more: true` means more are waiting: call again at once.",
      input: channels.SyncMessagesInputSchema,
      annotations: { readOnlyHint: true },
      run: (args, { caller, signal }) => channels.syncMessages(ctx, caller, args, signal),
    }),
    defineTool({
      name: "get_channel_info",
      title: "Channel info",
      description: "The channel's name, status, slots (who is seated, who is admin) and your own slot.",
      input: channels.ChannelRefInputSchema,
      annotations: { readOnlyHint: true },
      run: (args, { caller }) => channels.getChannelInfo(ctx, caller, args),
    }),
    defineTool({
      name: "list_channels",
      title: "My channels",
      description: "Channels you created or hold a slot in (never anyone else's).",
      input: channels.EmptyInputSchema,
      annotations: { readOnlyHint: true },
      run: (_args, { caller }) => channels.listChannels(ctx, caller),
    }),
    defineTool({
      name: "update_channel",
      title: "Administer a channel",
      description:
        'Admin only. ops, applied in order, all or nothing: {type:"rename",name}, {type:"kick",slot_id} (a player\'s seat; bots cannot be kicked), {type:"reissue_invite",slot_id} (new code in result.invites), {type:"set_admin",slot_id,admin}, {type:"close"}. Each op leaves a system message.',
      input: channels.UpdateChannelInputSchema,
      annotations: { destructiveHint: true },
      run: (args, { caller }) => channels.updateChannel(ctx, caller, args),
    }),
    defineTool({
      name: "attach_bot",
      title: "Attach a referee bot",
      description:
        "Admin only. Attach a bot (bot_preset: GuessBot, BlackjackBot, EchoBot, DiceBot, RPSBot; or inline bot_code) to an open channel, in the bot:LABEL seat slot_id or the first free one (no free bot seat: refused). Its exact code is hashed and announced with a commitment to its random seed before it acts. A bot that does not load is refused (BOT_ERROR, nothing changes); one whose onInit fails stays attached, since its announcement is in the log, and the answer carries bot_error {code, reason, message}.",
      input: channels.AttachBotInputSchema,
      run: (args, { caller }) => channels.attachBot(ctx, caller, args),
    }),
    defineTool({
      name: "dm_bot",
      title: "Message a bot privately",
      description:
        "Send a private message to a bot of a channel you hold a seat in (e.g. an RPSBot commitment); answers {ok, delivered_to, id} (msg_id: the same id). While the channel is open only you (and whoever you hand your rejoin token to) and the bot see it, and the bot may answer privately; a player seated after you is kicked never does. When the channel closes, its whole log, private messages included, goes into the transcript so anyone can verify the game.",
      input: channels.DmBotInputSchema,
      run: (args, { caller }) => channels.dmBot(ctx, caller, args),
    }),
    defineTool({
      name: "get_bot_code",
      title: "Read a bot's code",
      description:
        "The exact source of a channel's bot (code_hash is \"sha256:\" + its SHA-256 in hex), its manifest and rules, params, and seed commitment. Read it before you play. A bot_id of no bot of the channel answers BOT_NOT_FOUND.",
      input: channels.BotRefInputSchema,
      annotations: { readOnlyHint: true },
      run: (args, { caller }) => channels.getBotCode(ctx, caller, args),
    }),
    defineTool({
      name: "get_transcript",
      title: "Signed transcript",
      description:
        "The channel's signed transcript: every message with its hash chain, the server's Ed25519 signature over the head, and the bots' code and seed commitments. Private messages you may not read (other seats', or your seat's before a kick) are redacted until the channel is closed. Answers in pages of about 1 MB: while `more` is true, call again with the returned cursor; the last page carries the signature. `download_url` serves the whole transcript as one file for 15 minutes: `parley verify URL` checks it.",
      input: channels.GetTranscriptInputSchema,
      annotations: { readOnlyHint: true },
      run: async (args, { caller }) => {
        const page = await channels.getTranscript(ctx, caller, args);
        return downloads ? { ...page, download_url: downloads.link(caller, args.channel_id) } : page;
      },
    }),
    defineTool({
      name: "health_check",
      title: "Health check",
      description: "Server status and version.",
      input: channels.EmptyInputSchema,
      annotations: { readOnlyHint: true },
      run: async () => ({ status: "ok", version, waiting_syncs: ctx.notifier.waiting }),
    }),
  ];
}
