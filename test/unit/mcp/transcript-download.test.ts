import { describe, expect, test } from "bun:test";
import * as channels from "../../../src/channels/index.ts";
import { errorResponse } from "../../../src/http/errors.ts";
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

/** A download as the HTTP edge answers it: a refusal is thrown and mapped by http/errors.ts. */
const answer = (downloads: TranscriptDownloads, request: Request, address: string) =>
  downloads.handle(request, address).catch((err) => errorResponse(err, new URL(request.url).pathname));

describe("TranscriptDownloads", () => {
  test("a caller holds at most two downloads at once; a reader that stops reading is cut off and frees its place", async () => {
    using env = await bigChannel();
    const downloads = new TranscriptDownloads(env.ctx, 60_000, 300);
    const url = downloads.link(env.alice, env.id);
    const get = (address = "203.0.113.7") => answer(downloads, new Request(url), address);

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

  test("one address holds at most four downloads whatever identities it uses, and concurrent requests cannot pass the caps together", async () => {
    using env = await signedChannels({ maxMessageBytes: 1 << 20 });
    const [alice, bob, carol] = ["alice", "bob", "carol"].map((principal) => ({ principal }));
    const created = await channels.createChannel(env.ctx, alice!, { name: "three", slots: ["invite:a", "invite:b", "invite:c"] });
    for (const [i, who] of [alice!, bob!, carol!].entries()) await channels.joinChannel(env.ctx, who, { invite_code: created.invites[i]! });
    for (let i = 0; i < 40; i++) await channels.postMessage(env.ctx, alice!, { channel_id: created.channel_id, body: "w".repeat(60_000) });
    const downloads = new TranscriptDownloads(env.ctx);
    const get = (who: { principal: string }, address: string) => answer(downloads, new Request(downloads.link(who, created.channel_id)), address);

    // Six at once for one caller: exactly two get through.
    const burst = await Promise.all(Array.from({ length: 6 }, () => get(alice!, "198.51.100.1")));
    expect(burst.filter((r) => r.status === 200)).toHaveLength(2);
    // The same address, other identities: two more, then no more.
    expect((await get(bob!, "198.51.100.1")).status).toBe(200);
    expect((await get(bob!, "198.51.100.1")).status).toBe(200);
    expect((await get(carol!, "198.51.100.1")).status).toBe(429);
    expect((await get(carol!, "198.51.100.2")).status).toBe(200);
  });
});
