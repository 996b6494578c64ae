import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parley } from "../helpers/parley-cli.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

/**
 * Upstream resources and prompts through the gateway, beside Parley's own resources: listed to a
 * grant that names the server (prompts also to one naming the prompt), read and got through the
 * upstream, refused outside the grant, and audited like tool calls.
 */

const FIXTURE = resolve(import.meta.dir, "../fixtures/upstream-server.ts");

describe("upstream resources and prompts", () => {
  let dir: string;
  let server: ServerProcess;
  const clients: Client[] = [];
  const cli = (args: string[]) => parley([...args, "--port", String(server.port), "--data", join(dir, "data")], { cwd: dir });

  async function as(agent: string, servers: string): Promise<Client> {
    const issued = await cli(["token", "issue", "--agent", agent, "--servers", servers]);
    expect(issued.code).toBe(0);
    const client = new Client({ name: agent, version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${issued.out.trim()}` } } }));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "parley-extras-"));
    writeFileSync(join(dir, "parley.toml"), `[[upstream]]\nname = "fx"\ncommand = [${JSON.stringify(process.execPath)}, ${JSON.stringify(FIXTURE)}, "--name", "fx"]\n`);
    server = await startServer({ dataDir: join(dir, "data"), cwd: dir, keepData: true });
    for (let i = 0; i < 300 && !server.stderr().includes("upstream up server=fx"); i++) await Bun.sleep(50);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await server?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a grant naming the server lists its resources, templates and prompts beside Parley's own, and reads and gets them", async () => {
    const client = await as("reader", "fx,channels");
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(expect.arrayContaining(["doc://quick-start", "fx://readme"]));
    expect((await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate)).toEqual(expect.arrayContaining(["channel://{channel_id}/transcript", "fx://items/{id}"]));
    expect((await client.readResource({ uri: "fx://readme" })).contents).toEqual([{ uri: "fx://readme", mimeType: "text/plain", text: "readme of fx" }]);
    expect(JSON.parse(((await client.readResource({ uri: "fx://items/42" })).contents[0] as { text: string }).text)).toEqual({ id: "42", server: "fx" });
    // doc://gateway tells an agent what these names, grants and errors mean.
    expect(((await client.readResource({ uri: "doc://gateway" })).contents[0] as { text: string }).text).toMatch(/FORBIDDEN[\s\S]*UPSTREAM_UNAVAILABLE/);
    // Parley's own resources still read through the extended handler.
    expect(((await client.readResource({ uri: "doc://quick-start" })).contents[0] as { text: string }).text).toMatch(/create_channel/);
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(["fx_greet"]);
    const got = await client.getPrompt({ name: "fx_greet", arguments: { who: "Bob" } });
    expect(got.messages[0]!.content).toEqual({ type: "text", text: "Say hello to Bob (from fx)" });
  }, 60_000);

  test("outside the grant: not listed, and a read or get is refused with FORBIDDEN", async () => {
    const client = await as("tool_only", "fx_echo");
    expect((await client.listResources()).resources.map((r) => r.uri)).not.toContain("fx://readme");
    expect((await client.listPrompts()).prompts).toEqual([]);
    await expect(client.readResource({ uri: "fx://readme" })).rejects.toThrow(/FORBIDDEN/);
    await expect(client.readResource({ uri: "fx://items/1" })).rejects.toThrow(/FORBIDDEN/);
    await expect(client.getPrompt({ name: "fx_greet", arguments: { who: "x" } })).rejects.toThrow(/FORBIDDEN/);
    // A grant naming the one prompt reaches it, and nothing else of fx.
    const prompter = await as("prompter", "fx_greet");
    expect((await prompter.listPrompts()).prompts.map((p) => p.name)).toEqual(["fx_greet"]);
    expect((await prompter.listTools()).tools).toEqual([]);
  }, 60_000);

  test("reads and gets are in the audit log, by method", async () => {
    const audit = await cli(["audit", "--json"]);
    const rows = audit.out.trim().split("\n").map((l) => JSON.parse(l));
    const reads = rows.filter((r: { method: string }) => r.method === "resources/read");
    expect(reads.map((r: { who: string; tool: string; outcome: string }) => [r.who, r.tool, r.outcome])).toEqual(
      expect.arrayContaining([
        ["agent:reader", "fx://readme", "ok"],
        ["agent:tool_only", "fx://readme", "FORBIDDEN"],
      ]),
    );
    expect(rows.some((r: { method: string; tool: string; outcome: string }) => r.method === "prompts/get" && r.tool === "greet" && r.outcome === "ok")).toBe(true);
  }, 60_000);
});
