import type { Config } from "../config/index.ts";
import { AppError } from "../errors.ts";
import { ToolPins, type ApprovedPin } from "../gateway/index.ts";
import { askAdmin } from "../http/index.ts";
import { printable } from "../lib/printable.ts";
import { existingDataDir, PinStore, tryLockDataDir, type DataDirHolder } from "../store/index.ts";
import { openData, parseDataFlags } from "./data.ts";

const USAGE = "usage: parley upstream pins [NAME] | upstream approve NAME (an upstream, or SERVER_TOOL for one tool)";

/**
 * `parley upstream pins|approve`: the pinned tool definitions of the gateway's upstreams. `pins`
 * lists them, each held-back change with its diff; `approve` accepts the held definitions of an
 * upstream (or of one tool, named as grants name it: `battle_echo`). While a server runs, the
 * approval goes through it (its admin socket), so it lists and calls those tools again at once.
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== "pins" && action !== "approve") throw new AppError("INVALID_REQUEST", USAGE);
  const { args, config } = parseDataFlags(rest, env, {}, true);
  if (args.length > 1 || (action === "approve" && args.length !== 1)) throw new AppError("INVALID_REQUEST", USAGE);
  if (action === "pins") return pins(config, args[0]);
  return approve(config, args[0]!);
}

function pins(config: Config, name: string | undefined): number {
  const data = openData(config);
  try {
    const all = new ToolPins(new PinStore(data.store.db)).list(name);
    if (all.length === 0) process.stdout.write(name === undefined ? "No pinned tools.\n" : `No pinned tools for upstream "${name}".\n`);
    const width = Math.max(0, ...all.map((p) => p.tool.length));
    for (const p of all) {
      const state = p.held ? `HELD since ${p.held.at} (${p.held.hash.slice(0, 12)}): parley upstream approve ${p.server}` : `pinned ${p.pinnedAt}`;
      process.stdout.write(`${p.server}  ${printable(p.tool).padEnd(width)}  ${p.hash.slice(0, 12)}  ${state}\n`);
      if (p.held) process.stdout.write(`${indent(p.held.diff, 4)}\n`);
    }
    return 0;
  } finally {
    data.close();
  }
}

async function approve(config: Config, name: string): Promise<number> {
  // Server names have no underscore ([a-z0-9-]+): `battle_echo` is the tool echo of battle.
  const cut = name.indexOf("_");
  const server = cut < 0 ? name : name.slice(0, cut);
  const tool = cut < 0 ? null : name.slice(cut + 1);
  const dir = existingDataDir(config.data);
  const known = (() => {
    const data = openData(config);
    try {
      return new ToolPins(new PinStore(data.store.db)).list(server).filter((p) => tool === null || p.tool === tool);
    } finally {
      data.close();
    }
  })();
  if (known.length === 0) {
    process.stderr.write(`parley: no pinned ${tool === null ? "tools for upstream" : "tool"} "${name}" (see parley upstream pins)\n`);
    return 1;
  }
  const attempt = tryLockDataDir(dir);
  let approved: ApprovedPin[];
  let through = "";
  if (attempt.holder) {
    approved = await approveThrough(attempt.holder, dir, server, tool);
    through = ` (through the running server, pid ${attempt.holder.pid})`;
  } else {
    // No server runs, and none can start while this holds the lock: the next one reads these pins.
    try {
      const data = openData(config);
      try {
        approved = new ToolPins(new PinStore(data.store.db)).approve(server, tool);
      } finally {
        data.close();
      }
    } finally {
      attempt.lock.release();
    }
  }
  if (approved.length === 0) {
    process.stdout.write(`Nothing held back for ${name}${through}.\n`);
    return 0;
  }
  process.stdout.write(`Approved ${approved.length} changed tool definition${approved.length === 1 ? "" : "s"} of ${server}${through}:\n`);
  for (const a of approved) process.stdout.write(`  ${printable(a.tool)}  ${a.previousHash.slice(0, 12)} -> ${a.hash.slice(0, 12)}\n${indent(a.diff, 4)}\n`);
  return 0;
}

/** Asks the server holding the data directory to approve (http/admin.ts). */
async function approveThrough(holder: DataDirHolder, dir: string, server: string, tool: string | null): Promise<ApprovedPin[]> {
  if (!holder.adminSocket) {
    throw new AppError("STORAGE_UNAVAILABLE", `data directory ${dir} is in use by another parley command (pid ${holder.pid}); try again when it has finished`);
  }
  const answer = await askAdmin(holder.adminSocket, { approveUpstream: server, tool }).catch((err: Error) => {
    throw new AppError("STORAGE_UNAVAILABLE", `cannot reach the server running on ${dir} (pid ${holder.pid}) at ${holder.adminSocket} (${err.message}); if it is still starting, try again`);
  });
  if (!answer.ok) throw new Error(answer.message);
  return (answer.result ?? []) as ApprovedPin[];
}

/** A diff indented, its control characters escaped: it quotes what an upstream wrote (JSON leaves C1 and U+2028 raw). */
const indent = (text: string, n: number) => printable(text).replace(/^/gm, " ".repeat(n));
