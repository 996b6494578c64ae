import { resolve } from "node:path";
import { createAuthContext, loadSigningKey, startSweeper, type AuthContext, type AuthSettings } from "../auth/index.ts";
import { createBotsRuntime, Notifier, runBots, type ChannelsContext } from "../channels/index.ts";
import { allowListFetcher, BotPool, PRESETS, SandboxEngine } from "../sandbox/index.ts";
import { ed25519Signer } from "../transcript/index.ts";
import { loadConfig, type Config } from "../config/index.ts";
import { createApp, listen } from "../http/index.ts";
import { channelTools, createMcpServer, McpEndpoint, ToolTable, TranscriptDownloads, type McpServerOptions, type ToolDef } from "../mcp/index.ts";
import { AppError } from "../errors.ts";
import { COMMIT_TURNS, SqliteAuthStore, SqliteStore } from "../store/index.ts";
import { VERSION } from "../version.ts";
import { parseFlags } from "./args.ts";

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  auth: AuthContext | null;
  /** The open store (test fixtures reach its connection; the product does not). */
  store: SqliteStore;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Test-only additions (the conformance fixture entry point); the product passes none. */
  extraTools?: ToolDef[];
  configure?: McpServerOptions["configure"];
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** Auth settings from config; `issuer`/`resource` are final once the port is known. */
export function authSettings(config: Config, publicUrl = config.public_url): AuthSettings {
  return {
    issuer: publicUrl,
    resource: `${publicUrl}/mcp`,
    passcode: config.passcode,
    accessTokenTtlSeconds: config.access_token_ttl_seconds,
    refreshTokenTtlSeconds: config.refresh_token_ttl_seconds,
    defaultServers: config.default_servers,
    knownServers: ["channels"],
  };
}

/** Opens the store, wires channels → MCP → HTTP, and listens. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  if (!config.auth && !LOOPBACK.has(config.host)) {
    throw new AppError("INVALID_REQUEST", `--no-auth is only for local testing; refusing to serve ${config.host} without sign-in`);
  }
  const dataDir = resolve(config.data);
  // The key first: a damaged key file stops the start before the database is touched.
  const key = await loadSigningKey(dataDir);
  const store = new SqliteStore(dataDir);
  const settings = authSettings(config);
  const botPool = new BotPool({
    ...(config.bot_workers > 0 ? { workers: config.bot_workers } : {}),
    warmMemoryBytes: config.bot_warm_memory_mb * 1024 * 1024,
  });
  const engine = new SandboxEngine(botPool, allowListFetcher(config.bot_fetch_hosts), config.bot_warm_instances);
  const auth = config.auth ? createAuthContext(new SqliteAuthStore(store.db), key, settings) : null;
  // Expired codes, clients never signed in, dead refresh families: at start-up, then every few minutes.
  const sweeper = auth ? startSweeper(auth) : null;
  const ctx: ChannelsContext = {
    store,
    notifier: new Notifier(),
    limits: { maxMessageBytes: config.max_message_bytes, maxAnswerBytes: config.max_answer_bytes },
    signer: ed25519Signer(key.privateKey, key.kid, key.publicJwk as { kty: "OKP"; crv: "Ed25519"; x: string }),
    issuer: settings.issuer,
    bots: createBotsRuntime({ engine, presets: new Map(PRESETS), manifestOf: (code) => engine.manifestOf(code) }),
  };
  const downloads = new TranscriptDownloads(ctx);
  const table = new ToolTable([...channelTools(ctx, VERSION, downloads), ...(options.extraTools ?? [])]);
  const endpoint = new McpEndpoint({
    createServer: (auth) => createMcpServer({ version: VERSION, channels: ctx, table, configure: options.configure, stillAuthorized, auth, downloads }),
    idleMs: config.session_idle_seconds * 1000,
    maxBodyBytes: config.max_body_bytes,
    answerTurns: COMMIT_TURNS + 1,
    maxSessions: config.max_sessions,
    maxSessionsPerAddress: config.max_sessions_per_address,
  });
  const stillAuthorized = async (info: { expiresAt?: number; extra?: Record<string, unknown> }) => {
    if (!auth) return true;
    const grant = await auth.store.getGrant(String(info.extra?.grantId ?? ""));
    return grant !== null && grant.revoked_at === null && (info.expiresAt ?? 0) * 1000 > Date.now();
  };
  const app = createApp({
    config,
    version: VERSION,
    auth: auth ?? undefined,
    handleMcp: (r, identity, address) => endpoint.handle(r, identity, address),
    downloadTranscript: (r, address) => downloads.handle(r, address),
  });
  const port = listen(app, config).port!;
  const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  const publicUrl = config.public_url.endsWith(":0") ? `http://localhost:${port}` : config.public_url;
  // With --port 0 the issuer and resource are known only now, before the first request is served.
  Object.assign(settings, authSettings(config, publicUrl));
  ctx.issuer = settings.issuer;
  // Bots answer every message they have not processed yet, e.g. those that arrived just before a crash.
  for (const channelId of await store.openBotChannels()) {
    runBots(ctx, channelId).catch((err) => console.error(`[parley] bots of ${channelId} failed to catch up:`, err));
  }
  return {
    auth,
    store,
    url: `http://${shownHost}:${port}`,
    port,
    config: { ...config, public_url: publicUrl },
    async stop() {
      await sweeper?.stop();
      await endpoint.close();
      engine.dispose();
      botPool.dispose();
      await app.stop(true);
      store.close();
    },
  };
}

export function banner(server: RunningServer): string {
  const { config } = server;
  const lines = [`Parley ${VERSION} serving at ${server.url}`, `├─ MCP:    ${config.public_url}/mcp`];
  if (server.auth) {
    lines.push(`├─ OAuth:  ${config.public_url}/.well-known/oauth-authorization-server`);
    lines.push(`├─ Sign-in: ${config.passcode ? "passcode required (consent page)" : "approves at once (no --passcode)"}`);
  } else {
    lines.push("├─ Auth:   OFF (--no-auth, loopback only; for the MCP conformance suite)");
  }
  lines.push(`└─ Data:   ${resolve(config.data)}  (SQLite, WAL)`, "");
  const warning =
    server.auth && !config.passcode && !LOOPBACK.has(config.host)
      ? `WARNING: serving ${config.host} without --passcode: anyone who can reach this port can sign in. Set --passcode or PARLEY_PASSCODE.\n`
      : "";
  return lines.join("\n") + warning;
}

export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const { values } = parseFlags(argv, {
    host: { type: "string" },
    port: { type: "string" },
    data: { type: "string" },
    config: { type: "string" },
    "public-url": { type: "string" },
    passcode: { type: "string" },
    "no-auth": { type: "boolean" },
  });
  const config = loadConfig({
    flags: {
      host: values.host,
      port: values.port,
      data: values.data,
      config: values.config,
      public_url: values["public-url"],
      passcode: values.passcode,
      auth: values["no-auth"] ? false : undefined,
    },
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
