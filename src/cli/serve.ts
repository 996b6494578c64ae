import { configPath, loadConfig, watchConfigFile, type LoadSources } from "../config/index.ts";
import { isLoopbackHost } from "../lib/address.ts";
import { log } from "../lib/log.ts";
import { startServer, type RunningServer } from "../server.ts";
import { VERSION } from "../version.ts";
import { parseFlags } from "./args.ts";

/** The start banner: an interface (tests parse `serving at http://HOST:PORT`), so its format stays. */
export function banner(server: RunningServer): string {
  const { config } = server;
  const lines = [`Parley ${VERSION} serving at ${server.url}`, `├─ MCP:    ${config.public_url}/mcp`];
  if (server.auth) {
    lines.push(`├─ OAuth:  ${config.public_url}/.well-known/oauth-authorization-server`);
    lines.push(`├─ Sign-in: ${config.passcode ? "passcode required (consent page)" : "approves at once (no --passcode)"}`);
  } else {
    lines.push("├─ Auth:   OFF (--no-auth, loopback only; for the MCP conformance suite)");
  }
  lines.push(`└─ Data:   ${server.dataDir}  (SQLite, WAL)`, "");
  return lines.join("\n") + openSignInWarnings(server).join("");
}

/** Without a passcode, whoever reaches the server signs in: say so when that may be more than this machine. */
function openSignInWarnings({ auth, config }: RunningServer): string[] {
  if (!auth || config.passcode) return [];
  const warnings: string[] = [];
  if (!isLoopbackHost(config.host)) {
    warnings.push(`WARNING: serving ${config.host} without --passcode: anyone who can reach this port can sign in. Set --passcode or PARLEY_PASSCODE.\n`);
  }
  // A public URL that is not loopback is how clients elsewhere reach it (a reverse proxy in front).
  if (!isLoopbackHost(new URL(config.public_url).hostname)) {
    warnings.push(`WARNING: ${config.public_url} is served without --passcode: anyone who can reach it can sign in. Set --passcode or PARLEY_PASSCODE.\n`);
  }
  return warnings;
}

/** `parley serve`: flags → config → the server (src/server.ts); prints the banner, reloads on SIGHUP and when the config file changes, stops on SIGINT/SIGTERM. */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const { values } = parseFlags(argv, {
    host: { type: "string" },
    port: { type: "string" },
    data: { type: "string" },
    config: { type: "string" },
    "public-url": { type: "string" },
    passcode: { type: "string" },
    "no-auth": { type: "boolean" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
  });
  const sources: LoadSources = {
    flags: {
      host: values.host,
      port: values.port,
      data: values.data,
      config: values.config,
      public_url: values["public-url"],
      passcode: values.passcode,
      auth: values["no-auth"] ? false : undefined,
      log_level: values["log-level"],
      log_format: values["log-format"],
    },
    env,
  };
  const config = loadConfig(sources);
  // A line logged while starting goes out before main's one-line error, if starting fails.
  const server = await startServer(config, { env }).finally(() => log.flush());
  process.stdout.write(banner(server));
  const reloads = reloader(server, sources);
  const path = configPath(sources);
  const watcher = path ? watchConfigFile(path, () => reloads("the config file changed")) : null;
  const hangup = () => reloads("SIGHUP");
  process.on("SIGHUP", hangup);
  await new Promise<void>((done) => {
    const shutdown = (signal: NodeJS.Signals) => {
      log.info("stopping", { signal });
      process.off("SIGINT", shutdown);
      process.off("SIGTERM", shutdown);
      process.off("SIGHUP", hangup);
      watcher?.close();
      void server.stop().finally(done);
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });
  return 0;
}

/**
 * Reloads, one at a time: the config read and checked again from the same sources; one that does
 * not load or apply is logged with its error and the running one is kept.
 */
function reloader(server: RunningServer, sources: LoadSources): (why: string) => void {
  let queue = Promise.resolve();
  return (why) => {
    queue = queue.then(async () => {
      log.info("reloading the config", { why });
      try {
        await server.reload(loadConfig(sources));
      } catch (err) {
        log.error("config reload refused; the running config is kept", { why, error: err instanceof Error ? err.message : String(err) });
      }
    });
  };
}
