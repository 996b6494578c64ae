import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parley } from "../helpers/parley-cli.ts";
import { PROTOCOL_VERSION, RawMcpSession } from "../helpers/raw-mcp.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";
import { UPSTREAM_FIXTURE, upstreamToml } from "../helpers/upstreams.ts";

/**
 * Attacks on the gateway through the real server (the unit tests in test/unit/gateway/attacks.test.ts
 * hold the rest): what a caller with a token for one upstream can send over /mcp.
 */
describe("gateway attacked through /mcp", () => {
  let dir: string;
  let server: ServerProcess;
  let token: string;
  const cli = (args: string[]) => parley([...args, "--port", String(server.port), "--data", join(dir, "data")], { cwd: dir });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "parley-gw-attacks-"));
    writeFileSync(join(dir, "parley.toml"), upstreamToml({ name: "fx", command: [process.execPath, UPSTREAM_FIXTURE, "--name", "fx"] }));
    server = await startServer({ dataDir: join(dir, "data"), cwd: dir, keepData: true });
    for (let i = 0; i < 300 && !server.stderr().includes("upstream up server=fx"); i++) await Bun.sleep(50);
    const issued = await cli(["token", "issue", "--agent", "mallory", "--servers", "fx"]);
    expect(issued.code).toBe(0);
    token = issued.out.trim();
  }, 60_000);
  afterAll(async () => {
    await server?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  test("arguments nested 150,000 deep (under max_body_bytes): INVALID_REQUEST, the upstream not restarted", async () => {
    const session = await RawMcpSession.open(server.mcpUrl, token);
    const pid = (await session.tool("fx_pid")).pid as number;
    const depth = 150_000;
    // Written by hand: JSON.stringify itself cannot write it.
    const body = `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"fx_echo","arguments":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}}`;
    const res = await fetch(server.mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${token}`, "mcp-session-id": session.sessionId, "mcp-protocol-version": PROTOCOL_VERSION },
      body,
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    // Before: the send upstream failed, taken for a broken connection: fx restarted for every caller.
    expect(text).toContain("INVALID_REQUEST");
    expect(text).toContain("nested too deep");
    expect((await session.tool("fx_pid")).pid).toBe(pid);
    expect(server.stderr()).not.toContain("upstream down server=fx");
    await session.close();
  }, 30_000);
});
