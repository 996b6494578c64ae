import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chainInput, ed25519Signer, genesisInput, sha256Hex, signTranscript } from "../../src/transcript/index.ts";
import { syncUntil, type TestClient } from "../helpers/mcp-client.ts";
import { useServer } from "../helpers/server-fixture.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const sha256 = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");

const env = useServer(["alice", "bob"]);

const readUntil = async (client: TestClient, channelId: string, until: (messages: any[]) => boolean) => (await syncUntil(client, channelId, until)).messages;

const botSaid = (messages: any[], type: string) => messages.filter((m) => m.kind === "bot" && m.body.type === type);

async function game(preset: string, params?: Record<string, unknown>) {
  const created = await env.alice.call("create_channel", { name: preset, slots: ["invite:alice", "invite:bob", "bot:ref"], bot_preset: preset, ...(params ? { bot_params: params } : {}) });
  const bot = created.bots[0];
  await env.alice.call("join_channel", { invite_code: created.invites[0] });
  await env.bob.call("join_channel", { invite_code: created.invites[1] });
  return { id: created.channel_id as string, bot, created };
}

async function closeAndVerify(channelId: string) {
  await env.alice.call("update_channel", { channel_id: channelId, ops: [{ type: "close" }] });
  const transcript = await env.bob.call("get_transcript", { channel_id: channelId });
  expect(transcript.more).toBe(false); // a game fits one page: the whole transcript
  expect(transcript.bots[0].seed).toMatch(/^[0-9a-f]{64}$/);
  using dir = tempDir();
  const file = join(dir.path, "t.json");
  writeFileSync(file, JSON.stringify(transcript));
  const r = Bun.spawnSync([process.execPath, MAIN, "verify", file, "--jwks", `${env.server.url}/.well-known/jwks.json`], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString(), transcript, file };
}

describe("referee bots", () => {
  test("GuessBot: attach is announced before anyone joins, turns are enforced, the reveal matches the commitment, and the closed transcript verifies by replay", async () => {
    const { id, bot } = await game("GuessBot", { min: 1, max: 8 });
    expect(bot.name).toBe("GuessBot");
    const code = await env.bob.call("get_bot_code", { channel_id: id, bot_id: bot.bot_id });
    expect(`sha256:${sha256(code.code)}`).toBe(bot.code_hash);
    expect(code.code).toContain("Rules (read these before you play)");

    const first = await readUntil(env.bob, id, (ms) => botSaid(ms, "commit").length > 0);
    const order = first.map((m) => m.body.type ?? m.kind);
    expect(order.indexOf("bot:attach")).toBeLessThan(order.indexOf("slot:join"));
    const attach = first.find((m) => m.body.type === "bot:attach");
    expect(attach.body).toMatchObject({ bot_id: bot.bot_id, code_hash: bot.code_hash, seed_commit: bot.seed_commit });
    const commitment = botSaid(first, "commit")[0].body.commitment;
    // Written like code_hash and seed_commit: one form for every commitment.
    expect(commitment).toMatch(/^sha256:[0-9a-f]{64}$/);

    await env.bob.call("post_message", { channel_id: id, body: "3" }); // out of turn: s0 starts
    let log = await readUntil(env.alice, id, (ms) => botSaid(ms, "not_your_turn").length > 0);
    // Binary search by alternating turns until someone wins.
    let lo = 1;
    let hi = 8;
    let turn = 0;
    while (botSaid(log, "result").length === 0) {
      const guess = Math.floor((lo + hi) / 2);
      const player = turn % 2 === 0 ? env.alice : env.bob;
      const before = botSaid(log, "answer").length + botSaid(log, "result").length;
      await player.call("post_message", { channel_id: id, body: String(guess) });
      log = await readUntil(env.alice, id, (ms) => botSaid(ms, "answer").length + botSaid(ms, "result").length > before);
      const last = [...botSaid(log, "answer"), ...botSaid(log, "result")].sort((a, b) => a.id - b.id).at(-1);
      if (last.body.answer === "higher") lo = guess + 1;
      if (last.body.answer === "lower") hi = guess - 1;
      turn++;
    }
    log = await readUntil(env.alice, id, (ms) => botSaid(ms, "reveal").length > 0);
    const reveal = botSaid(log, "reveal")[0].body;
    expect(`sha256:${sha256(`${reveal.target}|${reveal.nonce}`)}`).toBe(commitment);

    const verified = await closeAndVerify(id);
    expect(verified.out).toContain("replay: every bot message reproduced exactly");
    expect(verified.code).toBe(0);
  });

  test("RPSBot: commitments by dm_bot, a wrong reveal loses", async () => {
    const { id, bot } = await game("RPSBot", { rounds: 1 });
    await readUntil(env.alice, id, (ms) => ms.some((m) => m.body.type === "phase"));
    // The rules ask for "commit sha256:HEX"; bare HEX, as the first version asked, is still taken.
    await env.alice.call("dm_bot", { channel_id: id, bot_id: bot.bot_id, message: `commit sha256:${sha256("rock|a1")}` });
    await env.bob.call("dm_bot", { channel_id: id, bot_id: bot.bot_id, message: `commit ${sha256("paper|b2")}` });
    const phase = await readUntil(env.alice, id, (ms) => ms.some((m) => m.body.phase === "reveal"));
    expect(phase.find((m) => m.body.phase === "reveal").body.commits).toEqual({ s0: `sha256:${sha256("rock|a1")}`, s1: `sha256:${sha256("paper|b2")}` });
    await env.alice.call("dm_bot", { channel_id: id, bot_id: bot.bot_id, message: "reveal rock a1" });
    await env.bob.call("dm_bot", { channel_id: id, bot_id: bot.bot_id, message: "reveal paper WRONG" });
    const log = await readUntil(env.alice, id, (ms) => botSaid(ms, "final").length > 0);
    expect(botSaid(log, "round")[0].body.winner).toBe("s0");
    // Alice never sees Bob's private messages to the bot.
    expect(log.some((m) => m.sender === "s1" && m.to_slot !== null)).toBe(false);
    const verified = await closeAndVerify(id);
    expect(verified.code).toBe(0);
  });

  test("BlackjackBot: the deck is committed before the first deal and revealed at the end", async () => {
    const { id } = await game("BlackjackBot");
    const start = await readUntil(env.alice, id, (ms) => botSaid(ms, "commit").length > 0);
    const commitment = botSaid(start, "commit")[0].body.commitment;
    expect(commitment).toMatch(/^sha256:[0-9a-f]{64}$/);
    await env.alice.call("post_message", { channel_id: id, body: "deal" });
    await readUntil(env.alice, id, (ms) => botSaid(ms, "turn").length > 0);
    await env.alice.call("post_message", { channel_id: id, body: "stand" });
    await readUntil(env.alice, id, (ms) => botSaid(ms, "turn").length > 1 || botSaid(ms, "result").length > 0);
    await env.bob.call("post_message", { channel_id: id, body: "stand" });
    const log = await readUntil(env.alice, id, (ms) => botSaid(ms, "reveal").length > 0);
    const reveal = botSaid(log, "reveal")[0].body;
    expect(`sha256:${sha256(`${reveal.deck}|${reveal.nonce}`)}`).toBe(commitment);
    const deal = botSaid(log, "deal")[0].body;
    expect(reveal.deck.split(",").slice(0, 2)).toEqual(deal.hands.s0);
    expect((await closeAndVerify(id)).code).toBe(0);
  });

  test("verify catches a swapped bot code, a changed seed, and a re-signed transcript whose bot message the code never said", async () => {
    const { id } = await game("DiceBot");
    await env.alice.call("post_message", { channel_id: id, body: "!roll 3d6" });
    await readUntil(env.alice, id, (ms) => ms.some((m) => m.kind === "bot" && m.body.roll === "3d6"));
    const honest = await closeAndVerify(id);
    expect(honest.out).toContain("replay: every bot message reproduced exactly");
    expect(honest.code).toBe(0);
    using dir = tempDir();
    const check = (t: any) => {
      const file = join(dir.path, `t-${crypto.randomUUID()}.json`);
      writeFileSync(file, JSON.stringify(t));
      const r = Bun.spawnSync([process.execPath, MAIN, "verify", file], { stdout: "pipe" });
      return { code: r.exitCode, out: r.stdout.toString() };
    };

    const swapped = structuredClone(honest.transcript);
    swapped.bots[0].code = swapped.bots[0].code.replace("export default", "export  default");
    expect(check(swapped)).toMatchObject({ code: 1, out: expect.stringContaining("code does not match its code_hash") });

    // Other code than announced, consistent with its own hash: the bot:attach players saw disagrees.
    const other = structuredClone(honest.transcript);
    other.bots[0].code += "\n// a different referee";
    other.bots[0].code_hash = `sha256:${await sha256Hex(other.bots[0].code)}`;
    expect(check(other)).toMatchObject({ code: 1, out: expect.stringMatching(/bot \S+: code_hash differs from its announcement at message \d+/) });
    const unlisted = structuredClone(honest.transcript);
    unlisted.bots = [];
    expect(check(unlisted)).toMatchObject({ code: 1, out: expect.stringMatching(/bot \S+ announced at message \d+ is missing from the transcript's bots/) });

    const reseeded = structuredClone(honest.transcript);
    reseeded.bots[0].seed = "0".repeat(64);
    expect(check(reseeded)).toMatchObject({ code: 1, out: expect.stringContaining("revealed seed does not match its commitment") });

    // A dishonest server: it changes the dice, rebuilds the chain and re-signs with its own key.
    // Chain and signature now check out; only the replay of the bot's code exposes it.
    const forged = structuredClone(honest.transcript);
    const roll = forged.messages.find((m: any) => m.kind === "bot" && m.body.roll === "3d6");
    roll.body.dice = [6, 6, 6];
    roll.body.total = 18;
    let prev = await sha256Hex(genesisInput(forged.channel.id));
    for (const m of forged.messages) {
      m.hash = await sha256Hex(chainInput(prev, m));
      prev = m.hash;
    }
    forged.head = prev;
    const jwk = JSON.parse(readFileSync(join(env.server.dataDir, "keys/ed25519.jwk"), "utf8"));
    const key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x, d: jwk.d }, { name: "Ed25519" }, false, ["sign"]);
    // What the server signed: the transcript, not the page's cursor, more and download_url.
    const { signature: _old, cursor: _cursor, more: _more, download_url: _url, ...unsigned } = forged;
    const resigned = await signTranscript(unsigned, ed25519Signer(key, forged.signature.kid, forged.signature.jwk));
    const caught = check(resigned);
    expect(caught.out).toContain("ok    signature");
    expect(caught.out).toMatch(/FAIL  bot bot_\S+, onMessage for message \d+: message \d+ differs from the replay/);
    expect(caught.code).toBe(1);
  });
});
