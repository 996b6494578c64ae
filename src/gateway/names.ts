import { createHash } from "node:crypto";

/** What a client may be shown as a tool name (MCP clients, and the model APIs behind them, refuse others). */
export const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TOOL_NAME = 64;
/** `_` + 8 hex digits of SHA-256: stable across restarts and servers, so a grant naming it keeps working. */
const HASH_SUFFIX_CHARS = 9;

export type ExposedName = { name: string; shortened: boolean } | { skipped: string };

/**
 * The name an upstream's tool is exposed under: `SERVER_TOOL`. A tool whose name has characters
 * outside A-Za-z0-9_- is skipped (renaming it would let two tools meet under one name); one whose
 * exposed name passes 64 characters is cut and given a hash of its whole name, so the same tool
 * always gets the same name (server names have at most 32 characters, so the cut never reaches them).
 */
export function exposedName(server: string, tool: string): ExposedName {
  if (!/^[A-Za-z0-9_-]+$/.test(tool)) return { skipped: "characters outside A-Za-z0-9_-" };
  const full = `${server}_${tool}`;
  if (full.length <= MAX_TOOL_NAME) return { name: full, shortened: false };
  const hash = createHash("sha256").update(full).digest("hex").slice(0, HASH_SUFFIX_CHARS - 1);
  return { name: `${full.slice(0, MAX_TOOL_NAME - HASH_SUFFIX_CHARS)}_${hash}`, shortened: true };
}
