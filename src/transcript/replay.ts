import { canonicalJson } from "../lib/canonical-json.ts";
import { botErrorBody, botSender, hookFor, INITIAL_STATE, type BotEngine, type FetchRecord, type HookMessage } from "./bot-protocol.ts";
import type { Transcript } from "./types.ts";

/**
 * Re-runs every bot over the transcript and requires exactly the recorded bot messages (kind, body,
 * recipient, order) after each trigger. Returns null when all match, else the first mismatch.
 * Needs the seeds, so only a transcript of a closed channel can be replayed.
 */
export async function replayTranscript(t: Transcript, engine: BotEngine): Promise<string | null> {
  const full = t.messages.filter((m): m is Extract<typeof m, { sender: string }> => !("redacted" in m));
  if (full.length !== t.messages.length) return "cannot replay: private messages are redacted (export the transcript after the channel is closed)";
  const create = full.find((m) => m.kind === "system" && m.body.type === "channel:create");
  const slots = (create?.body.slots as { slot_id: string; label: string; kind: string }[] | undefined) ?? [];
  for (const bot of t.bots) {
    if (bot.seed === undefined) return `cannot replay bot ${bot.bot_id}: its seed is revealed only when the channel closes`;
    // Another engine build (or sandbox realm and limits) may answer differently: refuse, don't guess.
    if (bot.engine !== engine.id) return `cannot replay bot ${bot.bot_id}: it ran on engine ${JSON.stringify(bot.engine)}, this verifier has ${JSON.stringify(engine.id)}`;
    const program = { botId: bot.bot_id, code: bot.code, params: bot.params, seed: bot.seed, slots };
    const outputsOf = new Map<number, HookMessage[]>();
    const fetchesOf = new Map<number, FetchRecord[]>();
    const reloadsAt = new Set<number>();
    for (const m of full) {
      if (m.kind === "system" && m.body.type === "bot:reload" && m.body.bot_id === bot.bot_id && m.reply_to !== undefined) reloadsAt.add(m.reply_to);
      if (m.kind === "system" && m.body.type === "bot:fetch" && m.body.bot_id === bot.bot_id && m.reply_to !== undefined) {
        fetchesOf.set(m.reply_to, m.body.fetches as FetchRecord[]);
      }
      const mine = m.sender === botSender(bot.bot_id) || (m.kind === "system" && m.body.type === "bot:error" && m.body.bot_id === bot.bot_id);
      if (mine && m.reply_to !== undefined) outputsOf.set(m.reply_to, [...(outputsOf.get(m.reply_to) ?? []), m]);
    }
    let state = INITIAL_STATE;
    let attached = false;
    for (const m of full) {
      // A bot answers nothing before its own bot:attach (the server starts it there too).
      attached ||= m.kind === "system" && m.body.type === "bot:attach" && m.body.bot_id === bot.bot_id;
      if (!attached) continue;
      const plan = hookFor(bot.bot_id, m);
      if (!plan) continue;
      const recorded = outputsOf.get(m.id) ?? [];
      outputsOf.delete(m.id);
      // Its first hook and every recorded reload run on a module evaluated anew, as they did live.
      const fresh = reloadsAt.delete(m.id) || plan.hook === "onInit";
      const result = await engine.run(program, { ...plan, state, fetches: fetchesOf.get(m.id) ?? [], fresh });
      const where = `bot ${bot.bot_id}, ${plan.hook} for message ${m.id}`;
      if (!result.ok) {
        const expected = botErrorBody(bot.bot_id, result);
        if (recorded.length !== 1 || canonicalJson(recorded[0]!.body) !== canonicalJson(expected)) {
          return `${where}: replay failed with ${result.reason} (${result.message}) but the transcript records ${describe(recorded)}`;
        }
        continue; // a failed hook leaves the state unchanged
      }
      if (recorded.length === 1 && recorded[0]!.kind === "system" && recorded[0]!.body.replayable === false) {
        continue; // recorded wall-clock kill: not reproducible by design, effects were discarded
      }
      if (recorded.length !== result.outputs.length) {
        return `${where}: replay produced ${result.outputs.length} messages, the transcript records ${recorded.length}`;
      }
      for (const [i, out] of result.outputs.entries()) {
        const got = recorded[i]!;
        if (got.kind !== out.kind || got.to_slot !== out.to_slot || canonicalJson(got.body) !== canonicalJson(out.body)) {
          return `${where}: message ${got.id} differs from the replay (recorded ${canonicalJson(got.body).slice(0, 120)}, replayed ${canonicalJson(out.body).slice(0, 120)})`;
        }
      }
      state = result.state;
    }
    const orphan = [...outputsOf.values()].flat()[0];
    if (orphan) return `bot ${bot.bot_id}: message ${orphan.id} claims to answer message ${orphan.reply_to}, which triggers no hook of this bot`;
    const [strayReload] = reloadsAt;
    if (strayReload !== undefined) return `bot ${bot.bot_id}: a bot:reload claims a hook for message ${strayReload}, which triggers no hook of this bot`;
  }
  return null;
}

function describe(recorded: HookMessage[]): string {
  return recorded.length === 0 ? "no bot message" : recorded.map((m) => canonicalJson(m.body).slice(0, 80)).join(", ");
}
