import { describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { SqliteStore } from "../../../src/store/index.ts";
import { ed25519Signer, verifyTranscript, type Transcript } from "../../../src/transcript/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

async function newKey() {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as { x: string };
  return { pair, jwk: { kty: "OKP" as const, crv: "Ed25519" as const, x: jwk.x } };
}

/** A real channel with a short game, through the domain functions and a real SQLite file. */
async function game() {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  const key = await newKey();
  const ctx: channels.ChannelsContext = {
    store,
    notifier: new channels.Notifier(),
    limits: { maxMessageBytes: 4096 },
    signer: ed25519Signer(key.pair.privateKey, "k1", key.jwk),
    issuer: "http://localhost:8201",
  };
  const alice = { principal: "alice" };
  const bob = { principal: "bob" };
  const created = await channels.createChannel(ctx, alice, { name: "duel", slots: ["invite:a", "invite:b"] });
  await channels.joinChannel(ctx, alice, { invite_code: created.invites[0]! });
  await channels.joinChannel(ctx, bob, { invite_code: created.invites[1]! });
  for (const [who, text] of [[alice, "rock?"], [bob, "paper!"], [alice, "good game"]] as const) {
    await channels.postMessage(ctx, who, { channel_id: created.channel_id, body: text });
  }
  return {
    ctx,
    key,
    alice,
    bob,
    id: created.channel_id,
    /** The whole transcript: a small channel fits one page, which then carries the signed header. */
    transcript: async (who = alice) => {
      const page = await channels.getTranscript(ctx, who, { channel_id: created.channel_id });
      if (page.more) throw new Error("expected the whole transcript in one page");
      return page;
    },
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

const clone = (t: Transcript) => structuredClone(t) as Transcript & { messages: any[] };

describe("verifyTranscript()", () => {
  test("an honest transcript verifies: chain, head and signature", async () => {
    using g = await game();
    const t = await g.transcript();
    const report = await verifyTranscript(t, { trustedKeys: [{ kid: "k1", x: g.key.jwk.x }] });
    expect(report.failure).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.checks.join("\n")).toContain(`hash chain: ${t.messages.length} messages`);
    expect(report.checks.join("\n")).toContain("matches the server's published JWKS");
    // It survives a JSON round trip (what `parley verify FILE` reads).
    expect((await verifyTranscript(JSON.parse(JSON.stringify(t)))).ok).toBe(true);
  });

  const tamperings: [string, (t: ReturnType<typeof clone>) => void, RegExp][] = [
    ["one character of a message body", (t) => (t.messages[4].body.text = "paper?"), /message \d+: hash mismatch/],
    ["a message's sender", (t) => (t.messages[4].sender = "s0"), /message \d+: hash mismatch/],
    ["two messages swapped", (t) => ([t.messages[4], t.messages[5]] = [t.messages[5], t.messages[4]]), /message \d+: .*reordered/],
    ["a message dropped from the middle", (t) => t.messages.splice(4, 1), /message \d+: hash mismatch/],
    ["the last message dropped", (t) => t.messages.pop(), /head .* does not match/],
    ["the channel renamed (a signed field)", (t) => (t.channel.name = "other"), /signature does not verify/],
    ["the head replaced along with a forged last message", (t) => { t.messages.pop(); t.head = t.messages.at(-1)!.hash; }, /signature does not verify/],
    ["a signature byte flipped", (t) => (t.signature.value = (t.signature.value[0] === "A" ? "B" : "A") + t.signature.value.slice(1)), /signature does not verify/],
    ["a field missing", (t) => delete (t as any).head, /not a Parley transcript: head/],
  ];
  for (const [name, tamper, reason] of tamperings) {
    test(`fails with the right reason when ${name}`, async () => {
      using g = await game();
      const t = clone(await g.transcript());
      tamper(t);
      const report = await verifyTranscript(t);
      expect(report.ok).toBe(false);
      expect(report.failure).toMatch(reason);
    });
  }

  test("a transcript re-signed with another key fails against the server's published key", async () => {
    using g = await game();
    const other = await newKey();
    const forged = await channels.getTranscript({ ...g.ctx, signer: ed25519Signer(other.pair.privateKey, "k1", other.jwk) }, g.alice, { channel_id: g.id });
    if (forged.more) throw new Error("expected the whole transcript in one page");
    expect((await verifyTranscript(forged)).ok).toBe(true); // self-consistent…
    const report = await verifyTranscript(forged, { trustedKeys: [{ kid: "k1", x: g.key.jwk.x }] });
    expect(report.failure).toMatch(/differs from the published key/);
  });

  test("private messages to other seats are redacted while open, still verify, and are revealed after close", async () => {
    using g = await game();
    await g.ctx.store.apply(g.id, [], [{ sender: "system", kind: "system", body: { secret: "for s1" }, ts: new Date().toISOString(), to_slot: "s1" }], channels.sealMessage);
    const seenByAlice = await g.transcript(g.alice);
    const hidden = seenByAlice.messages.filter((m) => "redacted" in m);
    expect(hidden).toHaveLength(1);
    expect(JSON.stringify(seenByAlice)).not.toContain("for s1");
    const report = await verifyTranscript(seenByAlice);
    expect(report.ok).toBe(true);
    expect(report.checks[0]).toContain("1 private messages redacted");
    expect(JSON.stringify(await g.transcript(g.bob))).toContain("for s1");
    await channels.updateChannel(g.ctx, g.alice, { channel_id: g.id, ops: [{ type: "close" }] });
    const closed = await g.transcript(g.alice);
    expect(closed.messages.some((m) => "redacted" in m)).toBe(false);
    expect((await verifyTranscript(closed)).ok).toBe(true);
  });
});
