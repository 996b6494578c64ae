import { AppError } from "../errors.ts";
import { signTranscript, type Transcript, type TranscriptMessage } from "../transcript/index.ts";
import { loadMembership, type Caller, type ChannelsContext } from "./context.ts";
import type { ChannelRefInput } from "./schemas.ts";
import { isVisibleTo } from "./views.ts";

const PAGE = 5_000;

/**
 * The signed transcript (DESIGN.md §6) as the caller may see it: every message of the chain, with
 * private messages the caller may not read (other seats', or an earlier occupant's of its own seat)
 * redacted to their id and hash while the channel is open (after `close`, everything is revealed,
 * bot seeds included, so anyone can verify the whole game).
 */
export async function getTranscript(ctx: ChannelsContext, caller: Caller, input: ChannelRefInput): Promise<Transcript> {
  if (!ctx.signer || !ctx.issuer) throw new AppError("INTERNAL_ERROR", "This server has no signing key");
  const m = await loadMembership(ctx, caller, input.channel_id);
  const closed = m.channel.status === "closed";
  const messages: TranscriptMessage[] = [];
  for (let after = 0; ; ) {
    const page = await ctx.store.listMessages(m.channel.id, { after, slotId: "*", limit: PAGE });
    for (const msg of page) {
      const hidden = !closed && !isVisibleTo(msg, m.slot);
      messages.push(hidden ? { id: msg.id, redacted: true, to_slot: msg.to_slot!, hash: msg.hash } : msg);
    }
    if (page.length < PAGE) break;
    after = page.at(-1)!.id;
  }
  // Never empty: the channel:create message opens every log.
  const head = messages.at(-1)!.hash;
  return signTranscript(
    {
      format: "parley-transcript/1",
      channel: { id: m.channel.id, name: m.channel.name, status: m.channel.status, created_at: m.channel.created_at },
      issuer: ctx.issuer,
      messages,
      // Seeds only once the channel is closed: until then they would let players predict the bot.
      bots: (await ctx.store.getBots(m.channel.id)).map((b) => ({
        bot_id: b.bot_id,
        name: b.name,
        version: b.version,
        code: b.code,
        manifest: b.manifest,
        params: b.params,
        engine: b.engine,
        code_hash: b.code_hash,
        manifest_hash: b.manifest_hash,
        seed_commit: b.seed_commit,
        ...(closed ? { seed: b.seed } : {}),
      })),
      head,
      signed_at: new Date().toISOString(),
    },
    ctx.signer,
  );
}
