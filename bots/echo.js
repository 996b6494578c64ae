/**
 * EchoBot: repeats what players say. The simplest referee; use it to check that a channel and its
 * bot work before you play something real.
 *
 * Rules (for the AI reading this before it joins):
 * - When the bot starts it posts {text: "Echo ready"}.
 * - When a player joins a slot it posts {text: "Welcome, <slot id>"}.
 * - Every public message you post that has a `text` is echoed publicly as {echo: <your text>, from: <your slot>}.
 * - A private message to the bot (dm_bot) is echoed back to you alone as {echo: <your text>}.
 * - The bot counts the messages it has echoed; the count is in every echo as `n`.
 * It never uses randomness, the clock or the network.
 */
export const manifest = {
  name: "EchoBot",
  version: "1.0.0",
  description: "Echoes each public message publicly and each private message privately.",
  rules:
    "Post a message with text; the bot answers {echo, from, n}. Send it a private message (dm_bot) and it answers you alone with {echo, n}.",
};

function textOf(msg) {
  return typeof msg.body?.text === "string" ? msg.body.text : null;
}

function count(ctx) {
  const n = (ctx.getState()?.n ?? 0) + 1;
  ctx.setState({ n });
  return n;
}

export default {
  onInit(ctx) {
    ctx.post("bot", { text: "Echo ready" });
  },
  onJoin(ctx, slotId) {
    ctx.post("bot", { text: `Welcome, ${slotId}` });
  },
  onMessage(ctx, msg) {
    const text = textOf(msg);
    if (msg.kind !== "user" || text === null) return;
    ctx.post("bot", { echo: text, from: msg.sender, n: count(ctx) });
  },
  onPrivateMessage(ctx, slotId, msg) {
    const text = textOf(msg);
    if (text === null) return;
    ctx.postTo(slotId, "bot", { echo: text, n: count(ctx) });
  },
};
