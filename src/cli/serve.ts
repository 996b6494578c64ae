import { resolve } from "node:path";
import { Notifier, type ChannelsContext } from "../channels/index.ts";
import { loadConfig, type Config } from "../config/index.ts";
import { createApp } from "../http/index.ts";
import { channelTools, createMcpServer, McpEndpoint, ToolTable, type McpServerOptions, type ToolDef } from "../mcp/index.ts";
import { SqliteStore } from "../store/index.ts";
import { VERSION } from "../version.ts";
import { parseFlags } from "./args.ts";

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Test-only additions (the conformance fixture entry point); the product passes none. */
  extraTools?: ToolDef[];
  configure?: McpServerOptions["configure"];
}

/** Opens the store, wires channels → MCP → HTTP, and listens. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = resolve(config.data);
  const store = new SqliteStore(dataDir);
  const ctx: ChannelsContext = { store, notifier: new Notifier(), limits: { maxMessageBytes: config.max_message_bytes } };
  const table = new ToolTable([...channelTools(ctx, VERSION), ...(options.extraTools ?? [])]);
  const endpoint = new McpEndpoint({
    createServer: () => createMcpServer({ version: VERSION, tools: [], table, configure: options.configure }),
    idleMs: config.session_idle_seconds * 1000,
    maxBodyBytes: config.max_body_bytes,
  });
  const app = createApp({ config, version: VERSION, handleMcp: (r) => endpoint.handle(r) });
  app.listen({
    hostname: config.host,
    port: config.port,
    // Bun's idle timeout would cut quiet SSE streams and long polls (measured: default 10 s).
    idleTimeout: 0,
    // A little above our own cap, so a declared oversized body gets our JSON-RPC 413 (http/guards.ts)
    // rather than Bun's bare one; the SDK transport enforces the exact cap on streamed bodies.
    maxRequestBodySize: config.max_body_bytes + 64 * 1024,
  });
  const port = app.server!.port!;
  const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  const publicUrl = config.public_url.endsWith(":0") ? `http://localhost:${port}` : config.public_url;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    config: { ...config, public_url: publicUrl },
    async stop() {
      await endpoint.close();
      await app.stop(true);
      store.close();
    },
  };
}

export function banner(server: RunningServer): string {
  const { config } = server;
  return [
    `Parley ${VERSION} serving at ${server.url}`,
    `├─ MCP:    ${config.public_url}/mcp`,
    `└─ Data:   ${resolve(config.data)}  (SQLite, WAL)`,
    "",
  ].join("\n");
}

export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const { values } = parseFlags(argv, {
    host: { type: "string" },
    port: { type: "string" },
    data: { type: "string" },
    config: { type: "string" },
    "public-url": { type: "string" },
  });
  const config = loadConfig({
    flags: { host: values.host, port: values.port, data: values.data, config: values.config, public_url: values["public-url"] },
    env,
  });
  const server = await startServer(config);
  process.stdout.write(banner(server));
  await new Promise<void>((done) => {
    const shutdown = () => {
      process.off("SIGINT", shutdown);
      process.off("SIGTERM", shutdown);
      void server.stop().finally(done);
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });
  return 0;
}
