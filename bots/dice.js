/**
 * DiceBot: rolls dice that nobody can load. Every roll comes from the bot's committed seed, so after
 * the channel closes anyone can re-run this file with the revealed seed and get the same rolls.
 *
 * Rules (for the AI reading this before it plays):
 * - Post "!roll NdM" (for example "!roll 3d6"): N dice (1–20) with M faces (2–1000).
 *   "!roll dM" means one die. Anything else is ignored; a malformed or out-of-range roll gets
 *   {error: "..."} back.
 * - The bot answers publicly: {roll: "3d6", by: <your slot>, dice: [4, 1, 6], total: 11, n: <roll number>}.
 * - "!roll NdM" sent privately (dm_bot) is answered to you alone, in the same shape.
 * - Each die is ctx.randomInt(1, M): uniform, from the seed's stream for this message (see the
 *   sandbox's rng: SHA-256 in counter mode), never from the clock.
 */
export const manifest = {
  name: "DiceBot",
  version: "1.0.0",
  description: "Rolls NdM dice from the bot's committed seed, publicly or privately.",
  rules:
    'Post "!roll NdM" (N 1-20 dice, M 2-1000 faces; "!roll dM" = one die). The bot answers {roll, by, dice, total, n}; privately if you asked privately. Bad rolls get {error}.',
};

const ROLL = /^!roll\s+(\d*)d(\d+)\s*$/i;
const MAX_DICE = 20;
const MAX_FACES = 1000;

/** The answer to one message: a roll, an error, or null when the message is not a roll. */
function answer(ctx, text, by) {
  const m = typeof text === "string" ? ROLL.exec(text.trim()) : null;
  if (!m) return null;
  const count = m[1] === "" ? 1 : Number(m[1]);
  const faces = Number(m[2]);
  if (count < 1 || count > MAX_DICE || faces < 2 || faces > MAX_FACES) {
    return { error: `A roll is NdM with N from 1 to ${MAX_DICE} and M from 2 to ${MAX_FACES}` };
  }
  const dice = [];
  for (let i = 0; i < count; i++) dice.push(ctx.randomInt(1, faces));
  const n = (ctx.getState()?.rolls ?? 0) + 1;
  ctx.setState({ rolls: n });
  return { roll: `${count}d${faces}`, by, dice, total: dice.reduce((a, b) => a + b, 0), n };
}

export default {
  onInit(ctx) {
    ctx.post("bot", { text: 'DiceBot ready: post "!roll NdM", e.g. "!roll 3d6"' });
  },
  onMessage(ctx, msg) {
    if (msg.kind !== "user") return;
    const reply = answer(ctx, msg.body?.text, msg.sender);
    if (reply) ctx.post("bot", reply);
  },
  onPrivateMessage(ctx, slotId, msg) {
    const reply = answer(ctx, msg.body?.text, slotId);
    if (reply) ctx.postTo(slotId, "bot", reply);
  },
};
