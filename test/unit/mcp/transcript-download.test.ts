import { describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { TranscriptDownloads } from "../../../src/mcp/index.ts";
import { signedChannels } from "../../helpers/signed-channels.ts";

/** A channel of 100 messages of 60 KB (~6 MB of transcript, many export chunks) on a real SQLite file. */
async function bigChannel() {
  const env = await signedChannels({ maxMessageBytes: 1 << 20 });
  const alice = { principal: "alice" };
  const created = await channels.createChannel(env.ctx, alice, { name: "big", slots: ["invite:a"] });
  await channels.joinChannel(env.ctx, alice, { invite_code: created.invites[0]! });
  for (let i = 0; i < 100; i++) await channels.postMessage(env.ctx, alice, { channel_id: created.channel_id, body: "z".repeat(60_000) });
  return { ...env, alice, id: created.channel_id };
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
