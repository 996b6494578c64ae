import { describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { parley } from "../helpers/parley-cli.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
/** Root writes through file modes: permission tests run the command as an unprivileged user. */
const NOBODY = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

function oneLine(text: string) {
  expect(text.trimEnd().split("\n")).toHaveLength(1);
}

describe("one server per data directory (issue 10 item 1)", () => {
  test("a second serve on the same --data (another port) exits 2 with one line naming the directory and the first server's pid; the first keeps serving", async () => {
    await using first = await startServer();
    await using alice = await connect(first.mcpUrl, "alice");
    const { channel_id } = await alice.call("create_channel", { name: "only one", slots: ["invite:a"] });
    const second = await parley(["serve", "--port", "0", "--data", first.dataDir]);
    expect(second.started).toBe(false);
    expect(second.code).toBe(2);
    oneLine(second.err);
    expect(second.err).toContain(first.dataDir);
    expect(second.err).toContain(`pid ${first.proc.pid}`);
    expect((await alice.call("get_channel_info", { channel_id })).view.channel_id).toBe(channel_id);
    // Commands that only read or add a row work beside it, as before.
    const list = await parley(["token", "list", "--data", first.dataDir]);
    expect(list.code).toBe(0);
  });

  test("two servers started at the same moment on one data directory: exactly one serves, the other exits 2 naming it", async () => {
    using dir = tempDir();
    const spawn = () => {
      const proc = Bun.spawn([process.execPath, MAIN, "serve", "--port", "0", "--data", dir.path], { stdout: "pipe", stderr: "pipe" });
      const outcome = (async () => {
        let out = "";
        for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
          out += chunk;
          if (out.includes("serving at")) return { proc, served: true, err: "" };
        }
        return { proc, served: false, err: await new Response(proc.stderr).text(), code: await proc.exited };
      })();
      return outcome;
    };
    const results = await Promise.all([spawn(), spawn()]);
    try {
      expect(results.filter((r) => r.served)).toHaveLength(1);
      const loser = results.find((r) => !r.served)!;
      expect(loser.code).toBe(2);
      expect(loser.err).toContain(`pid ${results.find((r) => r.served)!.proc.pid}`);
    } finally {
      for (const r of results) r.proc.kill("SIGKILL");
      await Promise.all(results.map((r) => r.proc.exited));
    }
  });

  test("a server killed with SIGKILL leaves no stale lock: a restart on the same directory and port serves at once", async () => {
    using dir = tempDir();
    const first = await startServer({ dataDir: dir.path });
    expect(await first.kill("SIGKILL")).not.toBe(0);
    await using again = await startServer({ dataDir: dir.path, port: first.port });
    expect((await fetch(`${again.url}/`)).status).toBe(200);
  });
});

describe("commands other than serve never create data (issue 10 item 2)", () => {
  const commands: string[][] = [
    ["token", "list"],
    ["token", "issue", "--agent", "scorer", "--servers", "channels"],
    ["token", "revoke", "agt_nope"],
    ["clients", "list"],
    ["clients", "revoke", "cli_nope"],
    ["channels", "list"],
    ["channels", "close", "chn_nope"],
    ["channels", "export", "chn_nope"],
    ["backup", "copy"],
  ];
  for (const command of commands) {
    test(`parley ${command.join(" ")} run where there is no data: one line naming the absolute path, exit 2, nothing created`, async () => {
      using dir = tempDir();
      const r = await parley(command, { cwd: dir.path });
      expect(r.code).toBe(2);
      oneLine(r.err);
      expect(r.err).toBe(`parley: no Parley data at ${join(dir.path, "parley_data")}: pass the server's --data or --config\n`);
      expect(r.out).toBe("");
      expect(readdirSync(dir.path)).toEqual([]);
    });
  }

  test("token list --data /no/such creates nothing; --data at an empty directory puts nothing in it", async () => {
    using dir = tempDir();
    const missing = join(dir.path, "no/such");
    const r = await parley(["token", "list", "--data", missing]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`parley: no Parley data at ${missing}: pass the server's --data or --config\n`);
    expect(existsSync(join(dir.path, "no"))).toBe(false);
    const empty = join(dir.path, "empty");
    mkdirSync(empty);
    const e = await parley(["token", "issue", "--agent", "a", "--servers", "channels", "--data", empty]);
    expect(e.code).toBe(2);
    expect(e.out).toBe("");
    expect(readdirSync(empty)).toEqual([]);
  });

  test("token issue refuses server names this server does not serve, listing those it does; nothing is issued", async () => {
    await using srv = await startServer();
    const r = await parley(["token", "issue", "--agent", "scorer", "--servers", "channels,battle", "--data", srv.dataDir, "--port", String(srv.port)]);
    expect(r.code).toBe(2);
    oneLine(r.err);
    expect(r.err).toContain('"battle"');
    expect(r.err).toContain("serves: channels");
    expect(r.out).toBe("");
    expect((await parley(["token", "list", "--data", srv.dataDir])).out).toBe("No agent tokens.\n");
  });
});

describe("runtime errors are one line naming the path or host (issue 10 item 5)", () => {
  test("--data pointing at a file", async () => {
    using dir = tempDir();
    const file = join(dir.path, "notes.txt");
    writeFileSync(file, "not a directory");
    const r = await parley(["serve", "--port", "0", "--data", file]);
    expect(r.code).toBe(2);
    oneLine(r.err);
    expect(r.err).toStartWith(`parley: data directory ${file} is a file, not a directory;`);
  });

  test("a data directory this user cannot write", async () => {
    using dir = tempDir();
    const data = join(dir.path, "data");
    mkdirSync(data, { mode: 0o555 });
    if (NOBODY) chownSync(dir.path, NOBODY.uid, NOBODY.gid);
    const r = await parley(["serve", "--port", "0", "--data", data], { as: NOBODY });
    expect(r.code).toBe(2);
    oneLine(r.err);
    expect(r.err).toStartWith(`parley: data directory ${data} is not writable by this user`);
    expect(readdirSync(data)).toEqual([]);
  });

  test("a data directory that cannot be created", async () => {
    using dir = tempDir();
    const parent = join(dir.path, "locked");
    mkdirSync(parent, { mode: 0o555 });
    if (NOBODY) for (const d of [dir.path, parent]) chownSync(d, NOBODY.uid, NOBODY.gid);
    const data = join(parent, "data");
    const r = await parley(["serve", "--port", "0", "--data", data], { as: NOBODY });
    expect(r.code).toBe(2);
    oneLine(r.err);
    expect(r.err).toStartWith(`parley: cannot create data directory ${data} (EACCES`);
  });

  test("an unresolvable --host", async () => {
    using dir = tempDir();
    const r = await parley(["serve", "--port", "0", "--data", dir.path, "--host", "nosuch.invalid"]);
    expect(r.code).toBe(2);
    oneLine(r.err);
    expect(r.err).toStartWith("parley: --host nosuch.invalid does not resolve to an address");
  });

  test("a --host that is not an address of this machine", async () => {
    using dir = tempDir();
    const r = await parley(["serve", "--port", "0", "--data", dir.path, "--host", "192.0.2.1"]);
    expect(r.code).toBe(2);
    oneLine(r.err);
    expect(r.err).toStartWith("parley: --host 192.0.2.1 is not an address of this machine");
  });

  test("--public-url https://… without --passcode warns as --host 0.0.0.0 does; with one, no warning", async () => {
    await using open = await startServer({ args: ["--public-url", "https://parley.example.com"] });
    expect(open.stdout()).toContain("WARNING: https://parley.example.com is served without --passcode");
    await using guarded = await startServer({ args: ["--public-url", "https://parley.example.com", "--passcode", "correct horse"] });
    expect(guarded.stdout()).not.toContain("WARNING");
    await using local = await startServer();
    expect(local.stdout()).not.toContain("WARNING");
  });
});
