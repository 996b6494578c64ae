import { createAuthContext, loadSigningKey, type AuthContext, type SigningKey } from "../auth/index.ts";
import { loadConfig, type Config } from "../config/index.ts";
import { askAdmin } from "../http/index.ts";
import { existingDataDir, SqliteAuthStore, SqliteStore, tryLockDataDir } from "../store/index.ts";
import { authSettings } from "../server.ts";
import { log } from "../lib/log.ts";
import { parseFlags } from "./args.ts";

/** The flags of every command on a running server's data: where it is, and the public URL for what it signs. */
export const DATA_FLAGS = {
  data: { type: "string" },
  config: { type: "string" },
  "public-url": { type: "string" },
  port: { type: "string" },
} as const;

type Flags = Record<string, { type: "string" | "boolean" }>;

/** Flags (DATA_FLAGS and `extra`) and the config they give, the server's own precedence. */
export function parseDataFlags<E extends Flags>(argv: string[], env: Record<string, string | undefined>, extra: E = {} as E, positionals = false) {
  // An operator command prints its own answer; the server's info lines (e.g. "channel closed",
  // written by the channels code it shares) would only be noise on its stderr. Warnings stay.
  log.configure({ level: "warn" });
  const { values, positionals: args } = parseFlags(argv, { ...DATA_FLAGS, ...extra }, positionals);
  const v = values as Record<string, string | boolean | undefined>;
  const config = loadConfig({ flags: { data: v.data, config: v.config, public_url: v["public-url"], port: v.port }, env });
  return { values: v, args, config };
}

export interface OpenData {
  dir: string;
  store: SqliteStore;
  close(): void;
}

/**
 * A running (or stopped) server's data directory, for a command other than `serve`: never creates
 * a directory, a database or a key (one line "no Parley data at …", exit 2, instead). Opening the
 * database beside a running server is safe for what these commands do: read, or write rows the
 * server reads afresh on every request (grants); channels change only through the server.
 */
export function openData(config: Config): OpenData {
  const dir = existingDataDir(config.data);
  const store = new SqliteStore(dir, { create: false });
  return { dir, store, close: () => store.close() };
}

/** openData, with the server's signing key and its auth settings (tokens and signed transcripts). */
export async function openSigned(config: Config): Promise<OpenData & { key: SigningKey; auth: AuthContext }> {
  const data = openData(config);
  try {
    const key = await loadSigningKey(data.dir, { create: false });
    return { ...data, key, auth: createAuthContext(new SqliteAuthStore(data.store.db), key, authSettings(config)) };
  } catch (err) {
    data.close();
    throw err;
  }
}

/**
 * Tells the server running on the data directory (if one does) that a grant changed, so its open
 * sessions hear `notifications/tools/list_changed` now. Best effort: the revocation is already in
 * the database, which the server reads on every request anyway.
 */
export async function tellGrantChanged(config: Config, grantId: string): Promise<void> {
  const attempt = tryLockDataDir(existingDataDir(config.data));
  if (!attempt.holder) return attempt.lock.release();
  if (!attempt.holder.adminSocket) return;
  await askAdmin(attempt.holder.adminSocket, { grantChanged: grantId }).catch(() => {});
}
