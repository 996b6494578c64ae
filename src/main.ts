#!/usr/bin/env bun
// Bots and timestamps must never depend on the host's zone (QuickJS reads local time from the host).
process.env.TZ = "UTC";

import { AppError } from "./errors.ts";

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  serve: () => import("./cli/serve.ts"),
  token: () => import("./cli/token.ts"),
  clients: () => import("./cli/clients.ts"),
  channels: () => import("./cli/channels.ts"),
  backup: () => import("./cli/backup.ts"),
  upstream: () => import("./cli/upstream.ts"),
  status: () => import("./cli/status.ts"),
  audit: () => import("./cli/audit.ts"),
  verify: () => import("./cli/verify.ts"),
  example: () => import("./cli/example.ts"),
  version: () => import("./cli/version.ts"),
  help: () => import("./cli/help.ts"),
};

async function main(argv: string[]): Promise<number> {
  const [name = "help", ...rest] = argv;
  const alias = name === "--help" || name === "-h" ? "help" : name === "--version" || name === "-v" ? "version" : name;
  const load = COMMANDS[alias];
  if (!load) {
    process.stderr.write(`parley: unknown command "${name}" (try: parley help)\n`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (err) {
    // A bad flag or config, a host or port it cannot listen on, or a data dir it cannot use (missing,
    // in use by another server, disk full, read-only, corrupt): one line, exit 2.
    if (err instanceof AppError && (err.code === "INVALID_REQUEST" || err.code === "STORAGE_UNAVAILABLE")) {
      process.stderr.write(`parley: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`parley: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
