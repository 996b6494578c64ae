/**
 * GuessBot — guess the committed number.
 *
 * Rules (read these before you play):
 * 1. At start the bot picks a secret whole number TARGET between params.min and params.max
 *    (default 1..100; min above max is refused) and a random NONCE, and posts
 *    commitment = "sha256:" + hex of sha256("TARGET|NONCE"), written like the code_hash and
 *    seed_commit of the bot:attach message. The commitment is public before anyone guesses, so the
 *    bot cannot change the number later.
 * 2. Players take turns in seat order (s0, s1, …, only "invite:" seats). On your turn, post a
 *    message whose text is a whole number, e.g. "42" or "guess 42". The bot answers "higher",
 *    "lower" or "correct". Guesses out of turn or that are not numbers are refused and do not
 *    use up a turn.
 * 3. The first correct guess wins. The bot then reveals TARGET and NONCE: check that
 *    "sha256:" + sha256("TARGET|NONCE") equals the commitment. If params.max_guesses (default 20) guesses
 *    are used up without a winner, the bot reveals and nobody wins.
 * Everything the bot says follows from this code, its seed (committed at attach, revealed when
 * the channel closes) and the players' messages: `parley verify` replays it.
 */
export const manifest = {
  name: "GuessBot",
  version: "1.1.0",
  description: "Turn-based number guessing with a committed target (sha256:HEX of \"TARGET|NONCE\"), revealed at the end.",
  rules:
    'Target committed as "sha256:" + hex sha256("TARGET|NONCE") before play. Players (invite seats, seat order) take turns posting a whole number; the bot answers higher/lower/correct; out-of-turn or non-numbers are refused without using a turn. First correct guess wins; then TARGET and NONCE are revealed. params: min (1), max (100, not below min), max_guesses (20).',
};

function players(ctx) {
  return ctx.slots.filter((s) => s.kind === "invite").map((s) => s.slot_id);
}

export default {
  onInit(ctx) {
    const min = Number.isInteger(ctx.params.min) ? ctx.params.min : 1;
    const max = Number.isInteger(ctx.params.max) ? ctx.params.max : 100;
    const maxGuesses = Number.isInteger(ctx.params.max_guesses) && ctx.params.max_guesses > 0 ? ctx.params.max_guesses : 20;
    if (min > max) throw new RangeError(`params.min (${min}) is above params.max (${max}): no number to pick`);
    const target = ctx.randomInt(min, max);
    const nonce = Array.from({ length: 16 }, () => ctx.randomInt(0, 15).toString(16)).join("");
    const commitment = `sha256:${ctx.sha256(`${target}|${nonce}`)}`;
    ctx.setState({ target, nonce, min, max, maxGuesses, turn: 0, guesses: 0, over: false });
    ctx.post("bot", { type: "commit", commitment, min, max, max_guesses: maxGuesses, text: `I picked a number between ${min} and ${max}. Commitment: ${commitment}. ${players(ctx)[0] ?? "s0"} guesses first.` });
  },

  onMessage(ctx, msg) {
    if (msg.kind !== "user") return;
    const st = ctx.getState();
    if (st.over) return;
    const order = players(ctx);
    const expected = order[st.turn % order.length];
    if (msg.sender !== expected) {
      ctx.post("bot", { type: "not_your_turn", slot: msg.sender, turn: expected, text: `It is ${expected}'s turn.` });
      return;
    }
    const m = /^\s*(?:guess\s+)?(-?\d+)\s*$/i.exec(String(msg.body.text ?? ""));
    if (!m) {
      ctx.post("bot", { type: "invalid", slot: msg.sender, text: "Send a whole number, e.g. \"42\"." });
      return;
    }
    const guess = Number(m[1]);
    st.guesses += 1;
    if (guess === st.target) {
      st.over = true;
      ctx.setState(st);
      ctx.post("bot", { type: "result", winner: msg.sender, guess, answer: "correct", text: `${msg.sender} wins with ${guess}!` });
      ctx.post("bot", { type: "reveal", target: st.target, nonce: st.nonce, text: `Check: "sha256:" + sha256("${st.target}|${st.nonce}") is the commitment` });
      return;
    }
    const answer = guess < st.target ? "higher" : "lower";
    st.turn += 1;
    if (st.guesses >= st.maxGuesses) {
      st.over = true;
      ctx.setState(st);
      ctx.post("bot", { type: "result", winner: null, guess, answer, text: "No guesses left; nobody wins." });
      ctx.post("bot", { type: "reveal", target: st.target, nonce: st.nonce, text: `Check: "sha256:" + sha256("${st.target}|${st.nonce}") is the commitment` });
      return;
    }
    ctx.setState(st);
    const next = order[st.turn % order.length];
    ctx.post("bot", { type: "answer", slot: msg.sender, guess, answer, next, text: `${guess}: ${answer}. ${next}'s turn.` });
  },
};
