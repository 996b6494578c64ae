import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, syncUntil } from "../helpers/mcp-client.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const ROOT = resolve(import.meta.dir, "../..");
const work = tempDir("parley-bin-");
const binary = join(work.path, "parley");

beforeAll(() => {
  // The same flags as `make build`, into a directory with no node_modules beside it.
  const makefile = Bun.spawnSync(["make", "-s", "-n", "build"], { cwd: ROOT }).stdout.toString();
  const flags = /build src\/main\.ts (.*) --outfile/.exec(makefile)![1]!.split(/\s+/);
  const res = Bun.spawnSync([process.execPath, "build", "src/main.ts", ...flags, "--outfile", binary], { cwd: ROOT, stderr: "pipe" });
  if (res.exitCode !== 0) throw new Error(res.stderr.toString());
}, 120_000);
afterAll(() => work[Symbol.dispose]());

describe("dist/parley, the compiled binary", () => {
  test("runs from another directory with no node_modules, ignores a stray .env, and serves two clients", async () => {
    using cwd = tempDir("parley-bin-cwd-");
    // Bun binaries autoload .env from the working directory unless built with --no-compile-autoload-dotenv.
    writeFileSync(join(cwd.path, ".env"), "PARLEY_HOST=0.0.0.0\nPARLEY_PUBLIC_URL=http://evil.example\n");
    await using srv = await startServer({ command: [binary], cwd: cwd.path });
    expect(srv.stdout()).toMatch(/serving at http:\/\/127\.0\.0\.1:/);
    expect(srv.stdout()).toContain(`http://localhost:${srv.port}/mcp`);
    await using alice = await connect(srv.mcpUrl, "alice");
    await using bob = await connect(srv.mcpUrl, "bob");
    const ch = await alice.call("create_channel", { name: "bin", slots: ["invite:a", "invite:b"] });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    await bob.call("join_channel", { invite_code: ch.invites[1] });
    const head = await bob.call("sync_messages", { channel_id: ch.channel_id, timeout_ms: 0 });
    const waiting = bob.call("sync_messages", { channel_id: ch.channel_id, cursor: head.cursor, timeout_ms: 20_000 });
    const posted = await alice.call("post_message", { channel_id: ch.channel_id, body: "from the binary" });
    const seen = await waiting;
    expect(seen.messages.map((m: any) => [m.id, m.body.text])).toEqual([[posted.msg_id, "from the binary"]]);
    expect(await bob.error("post_message", { channel_id: ch.channel_id })).toStartWith("INVALID_REQUEST:");

    // The bot API is embedded too: doc://bots is bots/README.md, read from a directory without it.
    expect((await bob.client.listResources()).resources.map((r) => r.uri)).toContain("doc://bots");
    const guide = await bob.client.readResource({ uri: "doc://bots" });
    expect((guide.contents[0] as { text: string }).text).toBe(readFileSync(join(ROOT, "bots/README.md"), "utf8"));
  });

  test("runs a referee bot: the sandbox worker and the embedded wasm and presets work inside the binary", async () => {
    using cwd = tempDir("parley-bin-cwd-");
    await using srv = await startServer({ command: [binary], cwd: cwd.path });
    await using alice = await connect(srv.mcpUrl, "alice");
    const ch = await alice.call("create_channel", { name: "dice", slots: ["invite:a", "bot:ref"], bot_preset: "DiceBot" });
    expect(ch.bots[0]).toMatchObject({ name: "DiceBot", slot_id: "s1" });
    await alice.call("join_channel", { invite_code: ch.invites[0] });
    await alice.call("post_message", { channel_id: ch.channel_id, body: "!roll 2d6" });
    const isRoll = (m: any) => m.kind === "bot" && m.body.roll === "2d6";
    const roll = (await syncUntil(alice, ch.channel_id, (ms) => ms.some(isRoll))).messages.find(isRoll);
    expect(roll.body.dice).toHaveLength(2);
    expect(roll.sender).toBe(`bot:${ch.bots[0].bot_id}`);

    // The binary's own `parley verify` replays the closed game (the sandbox runs there too).
    await alice.call("update_channel", { channel_id: ch.channel_id, ops: [{ type: "close" }] });
    const file = join(cwd.path, "dice.json");
    writeFileSync(file, JSON.stringify(await alice.call("get_transcript", { channel_id: ch.channel_id })));
    const verified = Bun.spawnSync([binary, "verify", file, "--jwks", srv.url], { cwd: cwd.path, stdout: "pipe", stderr: "pipe" });
    expect(verified.stdout.toString()).toContain("replay: every bot message reproduced exactly");
    expect(verified.exitCode).toBe(0);
  });

  test("prints its version", () => {
    const r = Bun.spawnSync([binary, "version"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toMatch(/^parley \d+\.\d+\.\d+/);
  });
});
