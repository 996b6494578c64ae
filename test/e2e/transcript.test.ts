import { describe, expect, test } from "bun:test";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, type TestClient } from "../helpers/mcp-client.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const verify = (...args: string[]) => {
  const r = Bun.spawnSync([process.execPath, MAIN, "verify", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};
const verifyAsync = async (...args: string[]) => {
  const p = Bun.spawn([process.execPath, MAIN, "verify", ...args], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
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

  test("parley verify --jwks takes the server's URL, as its hint says, or its JWKS URL; keys it cannot read fail the check instead of skipping it", async () => {
    await using srv = await startServer();
    await using alice = await connect(srv.mcpUrl, "alice");
    const ch = await alice.call("create_channel", { name: "keys", slots: ["invite:a"] });
    using dir = tempDir();
    const file = join(dir.path, "transcript.json");
    writeFileSync(file, JSON.stringify(await alice.call("get_transcript", { channel_id: ch.channel_id })));

    // Offline, the signature line tells the reader what to pass to check the key is the server's.
    const offline = verify(file);
    expect(offline.code).toBe(0);
    expect(offline.out).toContain("embedded key only; add --jwks SERVER_URL");

    for (const jwks of [srv.url, `${srv.url}/`, `http://127.0.0.1:${srv.port}`, `${srv.url}/.well-known/jwks.json`]) {
      const online = verify(file, "--jwks", jwks);
      expect({ jwks, code: online.code, err: online.err }).toEqual({ jwks, code: 0, err: "" });
      expect(online.out).toContain("matches the server's published JWKS");
    }

    // Another server's keys: the transcript is not signed by one of them.
    await using other = await startServer();
    const foreign = verify(file, "--jwks", other.url);
    expect(foreign.code).toBe(1);
    expect(foreign.out).toContain("which the server does not publish");

    // A URL that answers, but not with a JWKS: the check the caller asked for fails, it is never skipped.
    // (served by this process, so the CLI runs beside it, not blocking it as spawnSync would)
    await using notKeys = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ issuer: "x" }) });
    const wrong = await verifyAsync(file, "--jwks", `http://127.0.0.1:${notKeys.port}/keys.json`);
    expect(wrong.code).toBe(1);
    expect(wrong.out).not.toContain("VALID");
    expect(wrong.err).toContain("not a JWKS");
    const missing = verify(file, "--jwks", `${srv.url}/nothing-here`);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`cannot fetch the server's keys from ${srv.url}/nothing-here/.well-known/jwks.json: HTTP 404`);
  });

  test("parley verify: bad usage exits 2, unreadable or non-JSON input exits 1", () => {
    using dir = tempDir();
    expect(verify().code).toBe(2);
    expect(verify(join(dir.path, "t.json"), "--jwks", "keys.json").err).toContain("--jwks takes the server's URL");
    expect(verify(join(dir.path, "t.json"), "--jwks", "keys.json").code).toBe(2);
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

  test("a subscriber who is kicked, or whose seat moves to another identity with its rejoin token, hears of no message after that (issue 9, item 10)", async () => {
    await using srv = await startServer();
    await using alice = await connect(srv.mcpUrl, "alice");
    await using bob = await connect(srv.mcpUrl, "bob");
    await using carol = await connect(srv.mcpUrl, "carol");
    await using dave = await connect(srv.mcpUrl, "dave");
    const ch = await alice.call("create_channel", { name: "watched", slots: ["invite:a", "invite:b", "invite:c"] });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    await bob.call("join_channel", { invite_code: ch.invites[1] });
    const carolSeat = await carol.call("join_channel", { invite_code: ch.invites[2] });
    const uri = `channel://${ch.channel_id}/transcript`;
    const heard = new Map<TestClient, number>();
    const waiters: (() => void)[] = [];
    for (const c of [alice, bob, carol]) {
      heard.set(c, 0);
      c.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
        heard.set(c, heard.get(c)! + 1);
        for (const wake of waiters.splice(0)) wake();
      });
      await c.client.subscribeResource({ uri });
    }
    const hears = async (c: TestClient, n: number) => {
      while (heard.get(c)! < n) await new Promise<void>((resolve) => waiters.push(resolve));
    };

    await alice.call("post_message", { channel_id: ch.channel_id, body: "everyone hears this" });
    await Promise.all([hears(alice, 1), hears(bob, 1), hears(carol, 1)]);

    await alice.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "kick", slot_id: "s1" }] });
    await Promise.all([hears(alice, 2), hears(carol, 2)]);
    await dave.call("join_channel", { invite_code: carolSeat.rejoin_token });
    await alice.call("post_message", { channel_id: ch.channel_id, body: "bob and carol are gone" });
    await hears(alice, 4);
    // Round trips on their sessions after alice heard the last message: anything sent to them would be here.
    await Promise.all([bob.call("health_check"), carol.call("health_check")]);
    expect(heard.get(bob)).toBe(1);
    expect(heard.get(carol)).toBe(2);
    expect(await bob.error("get_transcript", { channel_id: ch.channel_id })).toStartWith("NOT_MEMBER:");
  });
});

