/**
 * RPSBot — rock, paper, scissors with commitments, so nobody can move after seeing the other.
 *
 * Rules (read these before you play):
 * 1. Two players, the first two "invite:" seats. Each round has two phases.
 * 2. COMMIT: pick a move (rock, paper or scissors) and a secret salt (any word without spaces).
 *    Send the bot a PRIVATE message with dm_bot: "commit sha256:HEX" where HEX = sha256("MOVE|SALT")
 *    in lowercase hex, e.g. of "rock|x7f2" (written like a code_hash; "commit HEX" is taken too).
 *    The bot announces publicly that you committed, never what.
 * 3. REVEAL: once both have committed, the bot asks for reveals. Send privately:
 *    "reveal MOVE SALT". The bot checks sha256("MOVE|SALT") against your commitment.
 *    A reveal that does not match (or an unknown move) loses the round.
 * 4. The bot then posts both moves and the winner (rock beats scissors, scissors beats paper,
 *    paper beats rock; equal moves draw). params.rounds (default 3) rounds are played; the
 *    final score is posted at the end.
 * The bot uses no randomness; every word it says follows from this code and the messages.
 */
export const manifest = {
  name: "RPSBot",
  version: "1.1.0",
  description: "Rock-paper-scissors: commit sha256:HEX of \"MOVE|SALT\" privately, then reveal; a wrong reveal loses.",
  rules:
    'Two players (first two invite seats). Each round: dm_bot "commit sha256:HEX" with HEX = sha256("MOVE|SALT") in lowercase hex; when both committed, dm_bot "reveal MOVE SALT". A reveal that does not match the commitment loses the round. rock > scissors > paper > rock. params: rounds (3).',
};

const BEATS = { rock: "scissors", scissors: "paper", paper: "rock" };

function players(ctx) {
  return ctx.slots.filter((s) => s.kind === "invite").map((s) => s.slot_id).slice(0, 2);
}

function finishRound(ctx, st) {
  const [a, b] = st.players;
  const ra = st.reveals[a];
  const rb = st.reveals[b];
  let winner = null;
  if (!ra.valid && !rb.valid) winner = null;
  else if (!ra.valid) winner = b;
  else if (!rb.valid) winner = a;
  else if (BEATS[ra.move] === rb.move) winner = a;
  else if (BEATS[rb.move] === ra.move) winner = b;
  if (winner) st.score[winner] += 1;
  ctx.post("bot", { type: "round", round: st.round, moves: { [a]: ra, [b]: rb }, winner, score: st.score, text: `Round ${st.round}: ${a} ${ra.valid ? ra.move : "(invalid reveal)"} vs ${b} ${rb.valid ? rb.move : "(invalid reveal)"} → ${winner ?? "draw"}.` });
  if (st.round >= st.rounds) {
    st.over = true;
    const best = st.score[a] === st.score[b] ? null : st.score[a] > st.score[b] ? a : b;
    ctx.post("bot", { type: "final", score: st.score, winner: best, text: best ? `${best} wins the match.` : "The match is a draw." });
  } else {
    st.round += 1;
    st.phase = "commit";
    st.commits = {};
    st.reveals = {};
    ctx.post("bot", { type: "phase", phase: "commit", round: st.round, text: `Round ${st.round}: send "commit sha256:HEX" privately.` });
  }
}

export default {
  onInit(ctx) {
    const rounds = Number.isInteger(ctx.params.rounds) && ctx.params.rounds > 0 ? ctx.params.rounds : 3;
    const ps = players(ctx);
    ctx.setState({ players: ps, rounds, round: 1, phase: "commit", commits: {}, reveals: {}, score: Object.fromEntries(ps.map((p) => [p, 0])), over: false });
    ctx.post("bot", { type: "phase", phase: "commit", round: 1, rounds, text: `Best of ${rounds}. Round 1: send me "commit sha256:HEX" privately (HEX = sha256("MOVE|SALT")).` });
  },

  onPrivateMessage(ctx, slotId, msg) {
    const st = ctx.getState();
    const text = String(msg.body.text ?? "").trim();
    if (st.over || !st.players.includes(slotId)) {
      ctx.postTo(slotId, "bot", { type: "refused", text: st.over ? "The match is over." : "You are not a player in this match." });
      return;
    }
    if (st.phase === "commit") {
      const m = /^commit\s+(?:sha256:)?([0-9a-f]{64})$/.exec(text);
      if (!m) return ctx.postTo(slotId, "bot", { type: "refused", text: 'Commit phase: send "commit sha256:HEX" (64 lowercase hex chars).' });
      if (st.commits[slotId]) return ctx.postTo(slotId, "bot", { type: "refused", text: "You already committed this round." });
      st.commits[slotId] = `sha256:${m[1]}`;
      ctx.post("bot", { type: "committed", slot: slotId, round: st.round, text: `${slotId} has committed.` });
      if (st.players.every((p) => st.commits[p])) {
        st.phase = "reveal";
        ctx.post("bot", { type: "phase", phase: "reveal", round: st.round, commits: st.commits, text: 'Both committed. Send "reveal MOVE SALT" privately.' });
      }
      ctx.setState(st);
      return;
    }
    const m = /^reveal\s+(\S+)\s+(\S+)$/.exec(text);
    if (!m) return ctx.postTo(slotId, "bot", { type: "refused", text: 'Reveal phase: send "reveal MOVE SALT".' });
    if (st.reveals[slotId]) return ctx.postTo(slotId, "bot", { type: "refused", text: "You already revealed this round." });
    const [, move, salt] = m;
    const valid = Object.hasOwn(BEATS, move) && `sha256:${ctx.sha256(`${move}|${salt}`)}` === st.commits[slotId];
    st.reveals[slotId] = { move, salt, valid };
    if (st.players.every((p) => st.reveals[p])) finishRound(ctx, st);
    ctx.setState(st);
  },
};
