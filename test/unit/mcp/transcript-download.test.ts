import { describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { TranscriptDownloads } from "../../../src/mcp/index.ts";
import { SqliteStore } from "../../../src/store/index.ts";
import { ed25519Signer } from "../../../src/transcript/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

/** A channel of 100 messages of 60 KB (~6 MB of transcript, many export chunks) on a real SQLite file. */
async function bigChannel() {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const { x } = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as { x: string };
  const ctx: channels.ChannelsContext = {
    store,
    notifier: new channels.Notifier(),
    limits: { maxMessageBytes: 1 << 20 },
    signer: ed25519Signer(pair.privateKey, "k1", { kty: "OKP", crv: "Ed25519", x }),
    issuer: "http://localhost:8201",
  };
  const alice = { principal: "alice" };
  const created = await channels.createChannel(ctx, alice, { name: "big", slots: ["invite:a"] });
  await channels.joinChannel(ctx, alice, { invite_code: created.invites[0]! });
  for (let i = 0; i < 100; i++) await channels.postMessage(ctx, alice, { channel_id: created.channel_id, body: "z".repeat(60_000) });
  return {
    ctx,
    alice,
    id: created.channel_id,
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

describe("TranscriptDownloads", () => {
  test("a caller holds at most two downloads at once; a reader that stops reading is cut off and frees its place", async () => {
    using env = await bigChannel();
    const downloads = new TranscriptDownloads(env.ctx, 60_000, 300);
    const url = downloads.link(env.alice, env.id);
    const get = () => downloads.handle(new Request(url));

    const [a, b, c] = [await get(), await get(), await get()];
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(c.status).toBe(429);
    expect((await c.json()).error).toBe("RATE_LIMITED");

    // `a` reads one chunk and stops, `b` reads nothing: past the stall time both are ended.
    const reader = a.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await Bun.sleep(500);
    expect(reader.read()).rejects.toThrow("stalled");
    expect(b.body!.getReader().read()).rejects.toThrow("stalled");

    // Their places are free again; a reader that gives up (cancel) frees its place at once.
    const d = await get();
    expect(d.status).toBe(200);
    await d.body!.cancel();
    expect((await get()).status).toBe(200);
    // A whole download goes through (the one above is left unread; two at once are allowed).
    const whole = await get();
    expect(whole.status).toBe(200);
    const transcript = await whole.json();
    expect(transcript.messages).toHaveLength(102);
    expect(transcript.signature).toBeDefined();
  });
});
