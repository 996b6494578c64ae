import { z } from "zod";

/** Tool inputs (the README's tool reference). One schema per tool: validator, JSON Schema for tools/list, and TS type. */
export const MAX_SYNC_TIMEOUT_MS = 25_000;
export const MAX_SLOTS = 32;

/**
 * Bot params are a few settings. A preset parses and freezes them on a worker it shares with other
 * channels' bots (100k small arrays held one ~250 ms a load), and they are copied into bot:attach.
 */
export const MAX_BOT_PARAMS_BYTES = 16 * 1024;
const BotParams = z
  .record(z.string(), z.unknown())
  .refine((p) => Buffer.byteLength(JSON.stringify(p)) <= MAX_BOT_PARAMS_BYTES, `at most ${MAX_BOT_PARAMS_BYTES} bytes of JSON`);

/**
 * Ids are looked up whatever their length: a well-prefixed id that matches nothing gets the not-found
 * code of its kind (CHANNEL_NOT_FOUND, INVITE_INVALID, BOT_NOT_FOUND), one answer for "no such thing"
 * however it was mistyped. Only what cannot be an id at all (another prefix, other characters, longer
 * than any id) is INVALID_REQUEST. Ours have 16 to 27 characters after the prefix (lib/ids.ts).
 */
const MAX_ID_CHARS = 128;
const ID_CHARS = `[A-Za-z0-9_-]{1,${MAX_ID_CHARS}}`;
/** A channel id: `chn_` and up to MAX_ID_CHARS base64url characters. */
export const CHANNEL_ID = new RegExp(`^chn_${ID_CHARS}$`);

const ChannelId = z.string().regex(CHANNEL_ID, "must be a channel id like chn_…");
const SlotId = z.string().regex(/^s\d{1,3}$/, "must be a slot id like s0");
const SlotSpec = z
  .string()
  .regex(/^(bot|invite):[A-Za-z0-9_.-]{1,40}$/, 'must be "invite:LABEL" or "bot:LABEL" (letters, digits, _ . -)');

/** A label names one seat (the rules and the players refer to seats by it), so labels differ. */
const Slots = z
  .array(SlotSpec)
  .min(1)
  .max(MAX_SLOTS)
  .superRefine((specs, ctx) => {
    const seen = new Set<string>();
    for (const spec of specs) {
      const label = spec.slice(spec.indexOf(":") + 1);
      if (seen.has(label)) ctx.addIssue({ code: "custom", message: `two seats are labelled "${label}"; each seat needs its own label` });
      seen.add(label);
    }
  });

export const CreateChannelInputSchema = z
  .object({
    name: z.string().trim().min(1).max(100).describe("Channel name shown to members"),
    slots: Slots.describe('Seats in order, each with its own label: "invite:LABEL" for a player, "bot:LABEL" for a referee bot (a bot needs one)'),
    bot_code: z.string().min(1).max(256 * 1024).optional().describe("Inline bot source: an ES module with `export default { onInit, onJoin, onMessage, onPrivateMessage }`; it sits in the first bot:LABEL seat"),
    bot_preset: z.string().max(64).optional().describe("Built-in referee: GuessBot, BlackjackBot, EchoBot, DiceBot or RPSBot; it sits in the first bot:LABEL seat"),
    bot_params: BotParams.optional().describe(`Parameters passed to the bot (at most ${MAX_BOT_PARAMS_BYTES} bytes of JSON)`),
  })
  .strict();

export const JoinChannelInputSchema = z
  .object({
    invite_code: z
      .string()
      .regex(new RegExp(`^(inv|rejoin)_${ID_CHARS}$`), "must be an inv_… invite code or a rejoin_… token")
      .describe("An inv_… invite code, or a rejoin_… token to take your slot back"),
  })
  .strict();

export const PostMessageInputSchema = z
  .object({
    channel_id: ChannelId,
    body: z.string().min(1).describe("Message text; stored as {text}"),
    kind: z.literal("user").optional().describe('Always "user" for members'),
  })
  .strict();

export const SyncMessagesInputSchema = z
  .object({
    channel_id: ChannelId,
    cursor: z.number().int().min(0).default(0).describe("Return messages with id > cursor; pass back the cursor you got"),
    timeout_ms: z
      .number()
      .int()
      .min(0)
      .max(MAX_SYNC_TIMEOUT_MS)
      .default(MAX_SYNC_TIMEOUT_MS)
      .describe("Wait up to this long for news when there is none (0 = return at once)"),
    limit: z.number().int().min(1).max(1000).default(100).describe("Most messages to return in one page (default 100); call again with the returned cursor for more"),
  })
  .strict();

export const ChannelRefInputSchema = z.object({ channel_id: ChannelId }).strict();

export const GetTranscriptInputSchema = z
  .object({
    channel_id: ChannelId,
    cursor: z.number().int().min(0).default(0).describe("Messages with id > cursor; pass back the cursor of the previous page while it said more: true"),
  })
  .strict();

const BotId = z.string().regex(new RegExp(`^bot_${ID_CHARS}$`), "must be a bot id like bot_…");

export const AttachBotInputSchema = z
  .object({
    channel_id: ChannelId,
    bot_code: z.string().min(1).max(256 * 1024).optional(),
    bot_preset: z.string().max(64).optional(),
    bot_params: BotParams.optional(),
    slot_id: SlotId.optional().describe("The bot:LABEL seat for the bot (default: the first free one)"),
  })
  .strict()
  .refine((v) => (v.bot_code === undefined) !== (v.bot_preset === undefined), "give exactly one of bot_code and bot_preset");

export const DmBotInputSchema = z
  .object({ channel_id: ChannelId, bot_id: BotId, message: z.string().min(1).describe("Text sent privately to the bot") })
  .strict();

export const BotRefInputSchema = z.object({ channel_id: ChannelId, bot_id: BotId }).strict();

export type AttachBotInput = z.infer<typeof AttachBotInputSchema>;
export type DmBotInput = z.infer<typeof DmBotInputSchema>;

export const EmptyInputSchema = z.object({}).strict();

export const UpdateOpSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("rename"), name: z.string().trim().min(1).max(100) }).strict(),
  z.object({ type: z.literal("kick"), slot_id: SlotId }).strict(),
  z.object({ type: z.literal("reissue_invite"), slot_id: SlotId }).strict(),
  z.object({ type: z.literal("set_admin"), slot_id: SlotId, admin: z.boolean() }).strict(),
  z.object({ type: z.literal("close") }).strict(),
]);

export const UpdateChannelInputSchema = z
  .object({ channel_id: ChannelId, ops: z.array(UpdateOpSchema).min(1).max(50).describe("Applied in order, all or nothing") })
  .strict();

export type CreateChannelInput = z.infer<typeof CreateChannelInputSchema>;
export type JoinChannelInput = z.infer<typeof JoinChannelInputSchema>;
export type PostMessageInput = z.infer<typeof PostMessageInputSchema>;
export type SyncMessagesInput = z.infer<typeof SyncMessagesInputSchema>;
export type ChannelRefInput = z.infer<typeof ChannelRefInputSchema>;
export type GetTranscriptInput = z.infer<typeof GetTranscriptInputSchema>;
export type UpdateOp = z.infer<typeof UpdateOpSchema>;
export type UpdateChannelInput = z.infer<typeof UpdateChannelInputSchema>;
