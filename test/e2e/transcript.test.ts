import { describe, expect, test } from "bun:test";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const verify = (...args: string[]) => {
  const r = Bun.spawnSync([process.execPath, MAIN, "verify", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

describe("get_transcript and parley verify", () => {
  test("a member exports the signed transcript; `parley verify` accepts it offline and against the server's JWKS, and rejects a tampered copy", async () => {
    await using srv = await startServer();
    await using alice = await connect(srv.mcpUrl, "alice");
    await using bob = await connect(srv.mcpUrl, "bob");
    const ch = await alice.call("create_channel", { name: "duel", slots: ["invite:a", "invite:b"] });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    await bob.call("join_channel", { invite_code: ch.invites[1] });
    await alice.call("post_message", { channel_id: ch.channel_id, body: "rock" });
    await bob.call("post_message", { channel_id: ch.channel_id, body: "paper" });

    const transcript = await bob.call("get_transcript", { channel_id: ch.channel_id });
    expect(transcript.format).toBe("parley-transcript/1");
    expect(transcript.issuer).toBe(`http://localhost:${srv.port}`);
    expect(transcript.messages.map((m: any) => m.body.text ?? m.body.type)).toEqual(["channel:create", "slot:join", "slot:join", "rock", "paper"]);
    const jwks = await (await fetch(`${srv.url}/.well-known/jwks.json`)).json();
    expect(transcript.signature.kid).toBe(jwks.keys[0].kid);

    using dir = tempDir();
    const file = join(dir.path, "transcript.json");
    writeFileSync(file, JSON.stringify(transcript, null, 2));
    const offline = verify(file);
    expect(offline.code).toBe(0);
    expect(offline.out).toContain("ok    hash chain: 5 messages");
    expect(offline.out).toContain(`VALID: ${file}`);

    const online = verify(file, "--jwks", `${srv.url}/.well-known/jwks.json`);
    expect(online.code).toBe(0);
    expect(online.out).toContain("matches the server's published JWKS");

    transcript.messages[4].body.text = "scissors";
    writeFileSync(file, JSON.stringify(transcript));
    const tampered = verify(file);
    expect(tampered.code).toBe(1);
    expect(tampered.out).toMatch(/FAIL  message \d+: hash mismatch/);
    expect(tampered.out).toContain("INVALID");

    await using stranger = await connect(srv.mcpUrl, "stranger");
    expect(await stranger.error("get_transcript", { channel_id: ch.channel_id })).toStartWith("NOT_MEMBER:");
  });

  test("parley verify: bad usage exits 2, unreadable or non-JSON input exits 1", () => {
    using dir = tempDir();
    expect(verify().code).toBe(2);
    expect(verify(join(dir.path, "missing.json")).code).toBe(1);
    writeFileSync(join(dir.path, "bad.json"), "{not json");
    const bad = verify(join(dir.path, "bad.json"));
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("is not JSON");
  });

  test("channel://ID/transcript: listed for members, readable, and subscribers hear of every new message", async () => {
    await using srv = await startServer();
    await using alice = await connect(srv.mcpUrl, "alice");
    await using bob = await connect(srv.mcpUrl, "bob");
    await using stranger = await connect(srv.mcpUrl, "stranger");
    const ch = await alice.call("create_channel", { name: "watched", slots: ["invite:a", "invite:b"] });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    await bob.call("join_channel", { invite_code: ch.invites[1] });
    const uri = `channel://${ch.channel_id}/transcript`;

    const listed = (await bob.client.listResources()).resources.map((r) => r.uri);
    expect(listed).toContain(uri);
    expect((await stranger.client.listResources()).resources.map((r) => r.uri)).not.toContain(uri);
    const read = await bob.client.readResource({ uri });
    expect(JSON.parse((read.contents[0] as { text: string }).text).channel.id).toBe(ch.channel_id);
    await expect(stranger.client.readResource({ uri })).rejects.toThrow(/NOT_MEMBER/);
    await expect(stranger.client.subscribeResource({ uri })).rejects.toThrow(/NOT_MEMBER/);

    const updates: string[] = [];
    let wake: () => void = () => {};
    bob.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
      wake();
    });
    await bob.client.subscribeResource({ uri });
    const arrived = new Promise<void>((resolve) => (wake = resolve));
    await alice.call("post_message", { channel_id: ch.channel_id, body: "news" });
    await arrived;
    expect(updates).toEqual([uri]);

    await bob.client.unsubscribeResource({ uri });
    await alice.call("post_message", { channel_id: ch.channel_id, body: "more news" });
    // A round trip on bob's session after the post: had an update been sent, it would be here by now.
    await bob.call("health_check");
    expect(updates).toEqual([uri]);
  });
});
