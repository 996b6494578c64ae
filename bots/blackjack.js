/**
 * BlackjackBot — blackjack against the bot dealer, with the shuffled deck committed up front.
 *
 * Rules (read these before you play):
 * 1. At start the bot shuffles a 52-card deck with its seeded randomness and posts
 *    commitment = "sha256:" + hex of sha256(DECK + "|" + NONCE) (written like a code_hash), where DECK is the cards joined by "," in deal order
 *    (cards like "AS", "10H", "QD") and NONCE is random hex. Nobody can see the order, and the
 *    bot cannot change it after the commitment.
 * 2. Players are the "invite:" seats, in seat order. Post "deal" to start a hand: each player and
 *    the dealer get two cards from the top of the deck (player cards public, one dealer card hidden).
 * 3. On your turn post "hit" (take a card) or "stand". Over 21 busts. Aces count 1 or 11,
 *    face cards 10.
 * 4. When every player has stood or bust, the dealer reveals its hidden card and draws to 17 or
 *    more, then results are posted (beat the dealer without busting to win; ties push).
 * 5. After params.hands hands (default 1), the bot reveals DECK and NONCE: check the commitment,
 *    and that every card dealt came off the top of DECK in order.
 */
export const manifest = {
  name: "BlackjackBot",
  version: "1.1.0",
  description: "Blackjack vs the dealer; the shuffled deck is committed (sha256:HEX of DECK|NONCE) before the first deal and revealed at the end.",
  rules:
    'The shuffled deck is committed as "sha256:" + hex sha256(DECK|NONCE) before the first deal (DECK = cards joined by ","). Post "deal"; on your turn "hit" or "stand"; the dealer draws to 17. After params.hands (1) hands the deck and nonce are revealed.',
};

const RANKS = ["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"];
const SUITS = ["S", "H", "D", "C"];

function value(cards) {
  let total = 0;
  let aces = 0;
  for (const c of cards) {
    const r = c.slice(0, -1);
    if (r === "A") {
      aces += 1;
      total += 11;
    } else {
      total += ["J", "Q", "K"].includes(r) ? 10 : Number(r);
    }
  }
  while (total > 21 && aces > 0) {
    total -= 10;
    aces -= 1;
  }
  return total;
}

function players(ctx) {
  return ctx.slots.filter((s) => s.kind === "invite").map((s) => s.slot_id);
}

function nextTurn(ctx, st) {
  while (st.turn < st.order.length && st.hands[st.order[st.turn]].done) st.turn += 1;
  if (st.turn < st.order.length) {
    const p = st.order[st.turn];
    ctx.post("bot", { type: "turn", slot: p, cards: st.hands[p].cards, total: value(st.hands[p].cards), text: `${p}: ${st.hands[p].cards.join(" ")} (${value(st.hands[p].cards)}). hit or stand?` });
    return;
  }
  const dealer = st.dealer;
  while (value(dealer) < 17) dealer.push(st.deck[st.next++]);
  const d = value(dealer);
  const results = {};
  for (const p of st.order) {
    const t = value(st.hands[p].cards);
    results[p] = t > 21 ? "bust" : d > 21 || t > d ? "win" : t === d ? "push" : "lose";
  }
  st.handsPlayed += 1;
  st.inHand = false;
  ctx.post("bot", { type: "result", dealer, dealer_total: d, results, text: `Dealer: ${dealer.join(" ")} (${d}). ${st.order.map((p) => `${p} ${results[p]}`).join(", ")}.` });
  if (st.handsPlayed >= st.handsToPlay) {
    st.over = true;
    ctx.post("bot", { type: "reveal", deck: st.deck.join(","), nonce: st.nonce, cards_dealt: st.next, text: 'Deck revealed: check "sha256:" + sha256(DECK|NONCE) against the commitment.' });
  }
}

export default {
  onInit(ctx) {
    const deck = [];
    for (const s of SUITS) for (const r of RANKS) deck.push(r + s);
    for (let i = deck.length - 1; i > 0; i--) {
      const j = ctx.randomInt(0, i);
      [deck[i], deck[j]] = [deck[j], deck[i]];
    }
    const nonce = Array.from({ length: 16 }, () => ctx.randomInt(0, 15).toString(16)).join("");
    const commitment = `sha256:${ctx.sha256(`${deck.join(",")}|${nonce}`)}`;
    const hands = Number.isInteger(ctx.params.hands) && ctx.params.hands > 0 ? ctx.params.hands : 1;
    ctx.setState({ deck, nonce, next: 0, handsToPlay: hands, handsPlayed: 0, inHand: false, over: false });
    ctx.post("bot", { type: "commit", commitment, hands, text: `Deck shuffled and committed: ${commitment}. Post "deal" to start.` });
  },

  onMessage(ctx, msg) {
    if (msg.kind !== "user") return;
    const st = ctx.getState();
    if (st.over) return;
    const text = String(msg.body.text ?? "").trim().toLowerCase();
    if (!st.inHand) {
      if (text !== "deal") return;
      st.order = players(ctx);
      st.hands = {};
      for (const p of st.order) st.hands[p] = { cards: [st.deck[st.next++], st.deck[st.next++]], done: false };
      st.dealer = [st.deck[st.next++], st.deck[st.next++]];
      st.turn = 0;
      st.inHand = true;
      ctx.post("bot", { type: "deal", hands: Object.fromEntries(st.order.map((p) => [p, st.hands[p].cards])), dealer_up: st.dealer[0], text: `Dealer shows ${st.dealer[0]}.` });
      nextTurn(ctx, st);
      ctx.setState(st);
      return;
    }
    const current = st.order[st.turn];
    if (msg.sender !== current || (text !== "hit" && text !== "stand")) {
      if (text === "hit" || text === "stand") ctx.post("bot", { type: "not_your_turn", slot: msg.sender, turn: current, text: `It is ${current}'s turn.` });
      return;
    }
    const hand = st.hands[current];
    if (text === "hit") {
      hand.cards.push(st.deck[st.next++]);
      if (value(hand.cards) >= 21) hand.done = true;
    } else hand.done = true;
    nextTurn(ctx, st);
    ctx.setState(st);
  },
};
