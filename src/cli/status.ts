import { AppError } from "../errors.ts";
import { printable } from "../lib/printable.ts";
import type { UpstreamStatus } from "../gateway/index.ts";
import { askAdmin } from "../http/index.ts";
import { existingDataDir, tryLockDataDir } from "../store/index.ts";
import { parseDataFlags } from "./data.ts";

const USAGE = "usage: parley status [--json] [--data DIR | --config FILE]";

interface ServerStatus {
  version: string;
  pid: number;
  started_at: string;
  url: string;
  sessions: number;
  upstreams: UpstreamStatus[];
}

/**
 * `parley status`: what the server running on the data directory is doing, asked through its admin
 * socket: its URL, sessions, and each upstream's state (`up`, `starting`, `down since …, retry in
 * …`), tool count, restarts, and the tool names it skipped, shortened or holds back. Exit 1 when no
 * server runs there, or when an upstream is not up (for scripts and health checks).
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const { values, args, config } = parseDataFlags(argv, env, { json: { type: "boolean" } }, true);
  if (args.length > 0) throw new AppError("INVALID_REQUEST", USAGE);
  const dir = existingDataDir(config.data);
  const attempt = tryLockDataDir(dir);
  if (!attempt.holder) {
    attempt.lock.release();
    process.stderr.write(`parley: no server is running on ${dir}\n`);
    return 1;
  }
  const { holder } = attempt;
  if (!holder.adminSocket) throw new AppError("STORAGE_UNAVAILABLE", `data directory ${dir} is in use by another parley command (pid ${holder.pid}), not a server`);
  const answer = await askAdmin(holder.adminSocket, { status: true }).catch((err: Error) => {
    throw new AppError("STORAGE_UNAVAILABLE", `cannot reach the server running on ${dir} (pid ${holder.pid}) at ${holder.adminSocket} (${err.message}); if it is still starting, try again`);
  });
  if (!answer.ok) {
    process.stderr.write(`parley: ${answer.message}\n`);
    return 1;
  }
  const status = answer.result as ServerStatus;
  if (values.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  else process.stdout.write(describe(status, Date.now()));
  return status.upstreams.every((u) => u.state === "up" && !u.emptied) ? 0 : 1;
}

/** The human form: one line for the server, one per upstream, an indented line per name it skipped, renamed or holds. */
export function describe(status: ServerStatus, now: number): string {
  const lines = [`parley ${status.version}  pid ${status.pid}  ${status.url}  up since ${status.started_at}  ${status.sessions} session${status.sessions === 1 ? "" : "s"}`];
  if (status.upstreams.length === 0) lines.push("No upstreams configured.");
  const width = Math.max(0, ...status.upstreams.map((u) => u.name.length));
  for (const u of status.upstreams) {
    const tools = `${u.tools} tool${u.tools === 1 ? "" : "s"}`;
    const restarts = `${u.restarts} restart${u.restarts === 1 ? "" : "s"}`;
    lines.push(`${u.name.padEnd(width)}  ${u.transport.padEnd(5)}  ${stateText(u, now)}  ${tools}  ${restarts}${u.pid === null ? "" : `  pid ${u.pid}`}`);
    if (u.emptied) lines.push(`  degraded: it lists no tools after having had some`);
    for (const h of u.held) lines.push(`  held: ${h.tool} (${h.reason})`);
    for (const s of u.skipped) lines.push(`  skipped: ${s.tool} (${s.reason})`);
    for (const s of u.shortened) lines.push(`  renamed: ${s.tool} -> ${s.name}`);
  }
  // Errors and names come from upstreams: no escape sequence of theirs reaches the terminal.
  return `${lines.map(printable).join("\n")}\n`;
}

function stateText(u: UpstreamStatus, now: number): string {
  if (u.state === "up") return `up since ${u.since}`;
  if (u.state === "starting") return `starting since ${u.since}`;
  const retry = u.retry_at ? `, retry in ${Math.max(0, Math.ceil((Date.parse(u.retry_at) - now) / 1000))} s` : "";
  return `down since ${u.since}${retry}${u.error ? ` (${u.error})` : ""}`;
}
