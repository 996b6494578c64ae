import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, syncUntil } from "../helpers/mcp-client.ts";
import { signIn, tokenRequest } from "../helpers/oauth.ts";
import { parley } from "../helpers/parley-cli.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/** The messages of a channel as a member reads them from the start. */
async function history(client: Awaited<ReturnType<typeof connect>>, channelId: string) {
  const all: any[] = [];
  for (let cursor = 0; ; ) {
    const page = await client.call("sync_messages", { channel_id: channelId, cursor, timeout_ms: 0, limit: 1000 });
    all.push(...page.messages);
    if (!page.more) return all;
    cursor = page.cursor;
  }
}

describe("parley clients list|revoke (issue 10 item 6)", () => {
  test("lists signed-in clients with their grants; revoking one client stops its tokens on the next request, refresh included, and no one else's", async () => {
    await using srv = await startServer();
    const a = await signIn(srv.url);
    const b = await signIn(srv.url);
    await using alice = await connect(srv.mcpUrl, "alice", { token: a.access_token });
    await using bob = await connect(srv.mcpUrl, "bob", { token: b.access_token });
    await alice.call("list_channels");

    const list = await parley(["clients", "list", "--data", srv.dataDir]);
    expect(list.code).toBe(0);
    for (const id of [a.client_id, b.client_id]) expect(list.out).toContain(id);
    expect(list.out).toContain("parley-test");
    expect(list.out).toMatch(/gr_\S+ +usr_\S+ .*active/);

    const revoked = await parley(["clients", "revoke", a.client_id, "--data", srv.dataDir]);
    expect(revoked.code).toBe(0);
    expect(revoked.out).toContain(`${a.client_id}: 1 grant revoked`);
    // The next request of the running server refuses the token (the CLI wrote beside it).
    expect((await alice.raw("list_channels").catch((err: Error) => err)) instanceof Error).toBe(true);
    const refresh = await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: a.refresh_token, client_id: a.client_id });
    expect(refresh.status).toBe(400);
    expect((await refresh.json()).error).toBe("invalid_grant");
    expect((await bob.call("list_channels")).channels).toEqual([]);

    expect((await parley(["clients", "list", "--data", srv.dataDir])).out).toMatch(new RegExp(`${a.client_id}[^\\n]*\\n[^\\n]*revoked`));
    const unknown = await parley(["clients", "revoke", "cli_nope", "--data", srv.dataDir]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toBe('parley: no signed-in client "cli_nope" (see parley clients list)\n');
  });
});

describe("parley channels list|close|export (issue 10 item 6)", () => {
  test("close beside a running server goes through it: the same system message an admin's close leaves, waiting readers wake, posts are refused at once", async () => {
    await using srv = await startServer();
    await using alice = await connect(srv.mcpUrl, "alice");
    await using bob = await connect(srv.mcpUrl, "bob");
    const ch = await alice.call("create_channel", { name: "table", slots: ["invite:a", "invite:b", "bot:ref"], bot_preset: "EchoBot" });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    await bob.call("join_channel", { invite_code: ch.invites[1] });
    await alice.call("post_message", { channel_id: ch.channel_id, body: "hello" });
    const { cursor } = await syncUntil(bob, ch.channel_id, (ms) => ms.some((m) => m.sender.startsWith("bot:") && m.body.echo === "hello"));
    // For comparison: a channel its admin closes with update_channel.
    const other = await alice.call("create_channel", { name: "other", slots: ["invite:a"] });
    await alice.call("update_channel", { channel_id: other.channel_id, ops: [{ type: "close" }] });

    const listed = await parley(["channels", "list", "--data", srv.dataDir]);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(new RegExp(`${ch.channel_id} +open +"table" +2/2 seats +1 bot`));
    expect(listed.out).toMatch(new RegExp(`${other.channel_id} +closed +"other"`));

    const waiting = bob.call("sync_messages", { channel_id: ch.channel_id, cursor, timeout_ms: 20_000 });
    const closed = await parley(["channels", "close", ch.channel_id, "--data", srv.dataDir]);
    expect(closed.err).toBe("");
    expect(closed.code).toBe(0);
    expect(closed.out).toBe(`Closed ${ch.channel_id} (through the running server, pid ${srv.proc.pid}).\n`);
    const woke = await waiting;
    expect(woke.messages.map((m: any) => ({ sender: m.sender, kind: m.kind, body: m.body }))).toEqual([{ sender: "system", kind: "system", body: { type: "channel:close" } }]);
    const adminClose = (await history(alice, other.channel_id)).at(-1);
    expect({ sender: adminClose.sender, kind: adminClose.kind, body: adminClose.body }).toEqual({ sender: "system", kind: "system", body: { type: "channel:close" } });
    expect(await alice.error("post_message", { channel_id: ch.channel_id, body: "too late" })).toStartWith("CHANNEL_CLOSED:");
    expect((await bob.call("get_channel_info", { channel_id: ch.channel_id })).view.status).toBe("closed");

    // Export: the signed transcript, whole (closed: seeds revealed, so verify replays the bot).
    using dir = tempDir();
    const exported = await parley(["channels", "export", ch.channel_id, "--data", srv.dataDir, "--port", String(srv.port)]);
    expect(exported.code).toBe(0);
    const transcript = JSON.parse(exported.out);
    expect(transcript.issuer).toBe(`http://localhost:${srv.port}`);
    expect(transcript.bots[0].seed).toBeString();
    const file = join(dir.path, "t.json");
    writeFileSync(file, exported.out);
    const verified = await parley(["verify", file, "--jwks", `${srv.url}/.well-known/jwks.json`]);
    expect(verified.out).toContain("VALID");
    expect(verified.out).toContain("replay");
    expect(verified.code).toBe(0);

    const again = await parley(["channels", "close", ch.channel_id, "--data", srv.dataDir]);
    expect(again.code).toBe(1);
    expect(again.err).toBe(`parley: Channel "${ch.channel_id}" is closed\n`);
    const missing = await parley(["channels", "close", "chn_nope", "--data", srv.dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('parley: No channel "chn_nope"\n');
    expect((await parley(["channels", "export", "chn_nope", "--data", srv.dataDir])).code).toBe(1);
  });

  test("close with no server running writes directly (holding the data directory's lock); the restarted server sees it and its chain", async () => {
    using dir = tempDir();
    const first = await startServer({ dataDir: dir.path });
    const token = (await signIn(first.url)).access_token;
    let ch: any;
    {
      await using alice = await connect(first.mcpUrl, "alice", { token });
      ch = await alice.call("create_channel", { name: "offline", slots: ["invite:a"] });
      await alice.call("join_channel", { invite_code: ch.invites[0] });
      await alice.call("post_message", { channel_id: ch.channel_id, body: "before" });
    }
    expect(await first.kill("SIGTERM")).toBe(0);

    const closed = await parley(["channels", "close", ch.channel_id, "--data", dir.path]);
    expect(closed.err).toBe("");
    expect(closed.code).toBe(0);
    expect(closed.out).toBe(`Closed ${ch.channel_id}.\n`);

    await using again = await startServer({ dataDir: dir.path, port: first.port });
    await using alice = await connect(again.mcpUrl, "alice", { token });
    expect((await alice.call("get_channel_info", { channel_id: ch.channel_id })).view.status).toBe("closed");
    expect((await history(alice, ch.channel_id)).map((m: any) => m.body.text ?? m.body.type)).toEqual(["channel:create", "slot:join", "before", "channel:close"]);
    // New messages after the CLI's get fresh ids, and the chain still verifies.
    const next = await alice.call("create_channel", { name: "next", slots: ["invite:a"] });
    await alice.call("join_channel", { invite_code: next.invites[0] });
    await alice.call("post_message", { channel_id: next.channel_id, body: "after" });
    const file = join(dir.path, "t.json");
    writeFileSync(file, (await parley(["channels", "export", ch.channel_id, "--data", dir.path])).out);
    expect((await parley(["verify", file])).code).toBe(0);
  });
  test("a data directory whose path is longer than a Unix socket address holds (108 bytes): close still goes through the server", async () => {
    using dir = tempDir();
    const deep = join(dir.path, "d".repeat(100));
    mkdirSync(deep);
    await using srv = await startServer({ dataDir: deep });
    await using alice = await connect(srv.mcpUrl, "alice");
    const ch = await alice.call("create_channel", { name: "deep", slots: ["invite:a"] });
    const closed = await parley(["channels", "close", ch.channel_id, "--data", deep]);
    expect(closed.out).toBe(`Closed ${ch.channel_id} (through the running server, pid ${srv.proc.pid}).\n`);
    expect((await alice.call("get_channel_info", { channel_id: ch.channel_id })).view.status).toBe("closed");
    expect(statSync(join(deep, "admin.sock")).mode & 0o777).toBe(0o600);
  });
});

describe("parley backup (issue 10 item 6)", () => {
  test("a consistent copy of a live server's data, written while clients post; a server started on the copy has the channels, and old tokens still work", async () => {
    using dir = tempDir();
    const original = await startServer({ dataDir: join(dir.path, "live"), cwd: dir.path });
    const token = (await signIn(original.url)).access_token;
    const agentToken = (await parley(["token", "issue", "--agent", "scorer", "--servers", "channels", "--data", original.dataDir, "--port", String(original.port)])).out.trim();
    const acknowledged: string[] = [];
    let ch: any;
    {
      await using alice = await connect(original.mcpUrl, "alice", { token });
      ch = await alice.call("create_channel", { name: "kept", slots: ["invite:a"] });
      await alice.call("join_channel", { invite_code: ch.invites[0] });
      for (let i = 0; i < 20; i++) {
        await alice.call("post_message", { channel_id: ch.channel_id, body: `before ${i}` });
        acknowledged.push(`before ${i}`);
      }
      // Posting goes on while the backup runs.
      let stop = false;
      const posting = (async () => {
        for (let i = 0; !stop; i++) await alice.call("post_message", { channel_id: ch.channel_id, body: `during ${i}` });
      })();
      const backup = await parley(["backup", join(dir.path, "copy"), "--data", original.dataDir]);
      stop = true;
      await posting;
      expect(backup.err).toBe("");
      expect(backup.code).toBe(0);
      expect(backup.out).toContain(join(dir.path, "copy"));
    }
    expect(await original.kill("SIGTERM")).toBe(0);
    expect(readdirSync(join(dir.path, "copy")).sort()).toEqual(["keys", "parley.db"]);

    await using restored = await startServer({ dataDir: join(dir.path, "copy"), port: original.port });
    await using alice = await connect(restored.mcpUrl, "alice", { token });
    expect((await alice.call("list_channels")).channels.map((c: any) => c.channel_id)).toEqual([ch.channel_id]);
    const texts = (await history(alice, ch.channel_id)).map((m: any) => m.body.text).filter(Boolean);
    expect(texts.slice(0, 20)).toEqual(acknowledged);
    // What came during the backup is a prefix of what was posted: a snapshot, not a mix.
    expect(texts.slice(20)).toEqual(texts.slice(20).map((_, i) => `during ${i}`));
    await using agent = await connect(restored.mcpUrl, "agent", { token: agentToken });
    expect((await agent.call("list_channels")).channels).toEqual([]);
    const file = join(dir.path, "t.json");
    writeFileSync(file, (await parley(["channels", "export", ch.channel_id, "--data", join(dir.path, "copy")])).out);
    const verified = await parley(["verify", file]);
    expect(verified.code, verified.out).toBe(0);
  });

  test("backup never overwrites: an existing target is refused (exit 2) and left as it was", async () => {
    await using srv = await startServer();
    using dir = tempDir();
    const target = join(dir.path, "exists");
    mkdirSync(target);
    writeFileSync(join(target, "mine"), "keep");
    const r = await parley(["backup", target, "--data", srv.dataDir]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`parley: backup target ${target} already exists; name a new directory\n`);
    expect(readdirSync(target)).toEqual(["mine"]);
    expect(existsSync(join(target, "parley.db"))).toBe(false);
  });
});
