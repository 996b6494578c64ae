/**
 * Profiling target (not in `make bench`'s table): Parley's whole stack — Elysia, Origin guard,
 * McpEndpoint with its event store, our CallTool handler with zod validation and jsonResult —
 * serving a trivial `echo` tool instead of a channels tool, so the ladder in ladder.ts can split
 * "MCP stack" cost from "channels domain + SQLite" cost. Prints `listening on PORT`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { startServer } from "../../src/server.ts";
import { loadConfig } from "../../src/config/index.ts";
import { defineTool } from "../../src/mcp/tool.ts";

const echo = defineTool({
  name: "echo",
  description: "Echo the text back",
  input: z.object({ text: z.string() }).strict(),
  run: async ({ text }) => ({ text }),
});
const data = mkdtempSync(join(tmpdir(), "parley-bench-echo-"));
const config = loadConfig({ flags: { host: "127.0.0.1", port: "0", data }, env: {} });
const server = await startServer(config, { extraTools: [echo] });
process.stdout.write(`listening on ${server.port}\n`);
const shutdown = () => {
  void server.stop().finally(() => {
    rmSync(data, { recursive: true, force: true });
    process.exit(0);
  });
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
