import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { createAuthContext, loadSigningKey, startSweeper, stillAuthorized, type AuthContext, type AuthSettings, type SigningKey } from "./auth/index.ts";
import { createBotsRuntime, Notifier, OPERATOR, runBots, updateChannel, type ChannelsContext } from "./channels/index.ts";
import { keysNeedingRestart, type Config } from "./config/index.ts";
import { AppError } from "./errors.ts";
import { CHANNELS, grantServer, type Identity } from "./identity.ts";
import { isLoopbackHost } from "./lib/address.ts";
import { log } from "./lib/log.ts";
import { createApp, listen, serveAdmin } from "./http/index.ts";
import { channelTools, createMcpServer, McpEndpoint, ToolTable, TranscriptDownloads, type McpServerOptions, type ToolDef } from "./mcp/index.ts";
import { allowListFetcher, BotPool, PRESETS, SandboxEngine } from "./sandbox/index.ts";
import { AuditLog, Gateway, pinAndAuditHooks, ToolPins, type ReloadSummary } from "./gateway/index.ts";
import { AuditStore, COMMIT_TURNS, lockDataDir, PinStore, prepareDataDir, SqliteAuthStore, SqliteStore } from "./store/index.ts";
import { ed25519Signer } from "./transcript/index.ts";
import { VERSION } from "./version.ts";

/** Audit rows are written in one transaction at most this long after their calls (gateway/audit.ts). */
const AUDIT_BATCH_MS = 20;

export interface RunningServer {
  /** Where it listens (`http://HOST:PORT`, the host as bound). */
  url: string;
  port: number;
  /** The config it serves, `public_url` final (with --port 0: the port it got). */
  config: Config;
  /** The absolute data directory it holds the lock of. */
  dataDir: string;
  auth: AuthContext | null;
  /** The open store (test fixtures reach its connection; the product does not). */
  store: SqliteStore;
  /** Upstream tools' pinned definitions, and the audit log of upstream calls (the gateway's). */
  pins: ToolPins;
  audit: AuditLog;
  /**
   * Applies a reloaded config: its upstreams (Gateway.reconfigure) and default_servers, with no
   * session dropped; other changed keys are logged as needing a restart. Throws, changing nothing,
   * when its upstreams cannot be applied (a header naming an unset variable).
   */
  reload(next: Config): Promise<ReloadSummary>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Test-only additions (the conformance fixture entry point); the product passes none. */
  extraTools?: ToolDef[];
  configure?: McpServerOptions["configure"];
  /** The environment the gateway's upstreams read (header `${NAME}`, stdio `env` names, PATH); default none. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Auth settings for the server's public URL: the OAuth issuer, and `…/mcp` the resource. */
export function authSettings(config: Config): AuthSettings {
  return {
    issuer: config.public_url,
    resource: `${config.public_url}/mcp`,
    passcode: config.passcode,
    accessTokenTtlSeconds: config.access_token_ttl_seconds,
    refreshTokenTtlSeconds: config.refresh_token_ttl_seconds,
    defaultServers: config.default_servers,
    knownServers: [CHANNELS, ...config.upstream.map((u) => u.name)],
  };
}

/**
 * Builds and starts the whole server from a config: takes the data directory's lock, loads the
 * key and opens the store, binds the port, wires channels → MCP → HTTP for the public URL that
 * port gives (nothing is changed after), opens the operator socket and lets bots catch up. What it
 * cannot serve from (a host, a port, a data directory) throws one line: main prints it, exit 2.
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  if (!config.auth && !isLoopbackHost(config.host)) {
    throw new AppError("INVALID_REQUEST", `--no-auth is only for local testing; refusing to serve ${config.host} without sign-in`);
  }
  log.configure({ level: config.log_level, format: config.log_format });
  await checkHost(config.host);
  const dataDir = prepareDataDir(config.data);
  // Longer than a Unix socket address holds (108 bytes) is fine: Bun binds and connects such a
  // path through its directory (measured with 225-byte paths).
  const adminSocket = resolve(dataDir, "admin.sock");
  const undo: (() => unknown)[] = [];
  try {
    const lock = lockDataDir(dataDir, { adminSocket });
    undo.push(() => lock.release());
    // The key first: a damaged key file stops the start before the database is touched.
    const key = await loadSigningKey(dataDir);
    const store = new SqliteStore(dataDir);
    undo.push(() => store.close());
    const pins = new ToolPins(new PinStore(store.db));
    const audit = new AuditLog(new AuditStore(store.db), { retentionDays: config.audit_retention_days, maxRows: config.audit_max_rows, batchMs: AUDIT_BATCH_MS });
    undo.push(() => audit.close());
    // Made with no upstreams too (a reload may add some); a header naming an unset variable stops
    // the start here (the lock is released on the way out).
    const gateway = new Gateway(config.upstream, { env: options.env ?? {}, version: VERSION, reserved: toolNames(options), hooks: pinAndAuditHooks(pins, audit) });
    // An approved definition is listed again at once (and its callers told), without a restart.
    pins.onApprove((approved) => {
      for (const server of new Set(approved.map((a) => a.server))) void gateway.review(server);
    });
    let built!: ReturnType<typeof wire>;
    const { app, server } = bind(config, (port) => (built = wire(config, port, { dataDir, key, store, options, gateway })).app);
    undo.push(() => app.stop(true), () => built.dispose());
    const { ctx, auth, endpoint } = built;
    const startedAt = new Date().toISOString();
    const admin = serveAdmin(adminSocket, {
      closeChannel: (id) => updateChannel(ctx, OPERATOR, { channel_id: id, ops: [{ type: "close" }] }).then(() => {}),
      approveUpstream: async (server, tool) => pins.approve(server, tool),
      status: () => ({ version: VERSION, pid: process.pid, started_at: startedAt, url: built.config.public_url, sessions: endpoint.sessionCount, upstreams: gateway.status() }),
      // A revoked token's next request is refused anyway; its open sessions hear now that their tools changed.
      grantChanged: (id) => void endpoint.notifyToolsChanged((caller) => caller?.grantId === id),
    });
    undo.push(() => admin.stop());
    // Upstreams start now, in the background: the banner does not wait for them (`parley status` shows each).
    gateway.start();
    undo.push(() => gateway.stop());
    // Expired codes, clients never signed in, dead refresh families: at start-up, then every few minutes.
    const sweeper = auth ? startSweeper(auth) : null;
    undo.push(() => sweeper?.stop());
    // Audit rows past audit_retention_days or audit_max_rows: at start-up, then every few minutes.
    audit.startRetention();
    // Bots answer every message they have not processed yet, e.g. those that arrived just before a crash.
    for (const channelId of await store.openBotChannels()) {
      runBots(ctx, channelId).catch((err) => log.error("bots failed to catch up", { channel: channelId, err }));
    }
    log.info("started", { version: VERSION, url: built.config.public_url, data: dataDir, pid: process.pid });
    const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
    return {
      url: `http://${shownHost}:${server.port}`,
      port: server.port!,
      config: built.config,
      dataDir,
      auth,
      store,
      pins,
      audit,
      async reload(next) {
        const applied = gateway.reconfigure(next.upstream);
        built.live.defaultGrant.splice(0, Infinity, ...next.default_servers);
        const { defaultServers, knownServers } = authSettings(next);
        Object.assign(built.live.settings, { defaultServers, knownServers });
        const restart = keysNeedingRestart(config, next);
        if (restart.length > 0) log.warn("config reloaded: changed keys need a restart and keep their running values", { keys: restart.join(", ") });
        const summary = await applied;
        const upstreams = Object.entries({ added: summary.added, removed: summary.removed, restarted: summary.restarted }).filter(([, names]) => names.length > 0);
        log.info("config reloaded", { ...Object.fromEntries(upstreams.map(([what, names]) => [what, names.join(",")])), default_servers: next.default_servers.join(",") });
        return summary;
      },
      async stop() {
        admin.stop();
        await sweeper?.stop();
        await endpoint.close();
        await gateway.stop();
        built.dispose();
        await app.stop(true);
        await audit.close();
        store.close();
        lock.release();
        log.info("stopped");
        log.flush();
      },
    };
  } catch (err) {
    for (const step of undo.reverse()) await Promise.resolve().then(step).catch(() => {});
    throw err;
  }
}

/** Everything behind the port, for the public URL it gives; synchronous, so it runs before the first request. */
function wire(base: Config, port: number, { dataDir, key, store, options, gateway }: { dataDir: string; key: SigningKey; store: SqliteStore; options: StartOptions; gateway: Gateway }) {
  const config: Config = Object.freeze({ ...base, data: dataDir, public_url: base.public_url.endsWith(":0") ? `http://localhost:${port}` : base.public_url });
  const settings = authSettings(config);
  // What a reload changes in place (RunningServer.reload): open sessions see the new entries.
  const live = { settings, defaultGrant: [...config.default_servers] };
  const botPool = new BotPool({
    ...(config.bot_workers > 0 ? { workers: config.bot_workers } : {}),
    warmMemoryBytes: config.bot_warm_memory_mb * 1024 * 1024,
  });
  const engine = new SandboxEngine(botPool, allowListFetcher(config.bot_fetch_hosts), config.bot_warm_instances);
  const auth = config.auth ? createAuthContext(new SqliteAuthStore(store.db), key, settings) : null;
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
    createServer: (session) =>
      createMcpServer({
        version: VERSION,
        channels: ctx,
        table,
        configure: options.configure,
        stillAuthorized: auth ? (identity) => stillAuthorized(auth, identity) : undefined,
        auth: session,
        downloads,
        gateway,
        defaultGrant: live.defaultGrant,
      }),
    idleMs: config.session_idle_seconds * 1000,
    maxBodyBytes: config.max_body_bytes,
    answerTurns: COMMIT_TURNS + 1,
    maxSessions: config.max_sessions,
    maxSessionsPerAddress: config.max_sessions_per_address,
  });
  const app = createApp({
    config,
    version: VERSION,
    auth: auth ?? undefined,
    handleMcp: (r, identity, address) => endpoint.handle(r, identity, address),
    downloadTranscript: (r, address) => downloads.handle(r, address),
    probeStore: () => store.probeWrite(),
    upstreamsDegraded: () => gateway.degraded(),
  });
  // An upstream's tools appeared, changed or went: the sessions whose grant names that server hear it.
  const grantOf = (caller: Identity | null) => caller?.servers ?? live.defaultGrant;
  gateway.onChange((server) => endpoint.notifyToolsChanged((caller) => grantOf(caller).some((entry) => grantServer(entry) === server)));
  return {
    app,
    config,
    ctx,
    auth,
    endpoint,
    live,
    dispose() {
      engine.dispose();
      botPool.dispose();
    },
  };
}

/** The built-in tools' names, which no upstream tool may take. */
function toolNames(options: StartOptions): string[] {
  return [...channelTools({} as ChannelsContext, VERSION), ...(options.extraTools ?? [])].map((t) => t.name);
}

/** listen(), with the OS's refusals as one line naming the host or port and what to do. */
function bind(config: Config, build: (port: number) => ReturnType<typeof createApp>) {
  try {
    return listen(config, build);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new AppError("INVALID_REQUEST", `port ${config.port} on ${config.host} is in use (another server?); stop it, or pick another --port`, { cause: err });
    if (code === "EADDRNOTAVAIL") {
      throw new AppError("INVALID_REQUEST", `--host ${config.host} is not an address of this machine; use 127.0.0.1 (this machine only), 0.0.0.0 (all its addresses) or one of its own`, { cause: err });
    }
    if (code === "EACCES") throw new AppError("INVALID_REQUEST", `port ${config.port} on ${config.host} needs privileges this user does not have; pick a port above 1023`, { cause: err });
    throw err;
  }
}

/** A name must resolve before binding: Bun reports an unresolvable one as a port in use. */
async function checkHost(host: string): Promise<void> {
  if (isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0) return;
  try {
    await lookup(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "lookup failed";
    throw new AppError("INVALID_REQUEST", `--host ${host} does not resolve to an address (${code}); give an address of this machine (127.0.0.1, 0.0.0.0, ::) or a name that resolves to one`, { cause: err });
  }
}
