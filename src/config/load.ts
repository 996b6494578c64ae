import { existsSync, readFileSync } from "node:fs";
import { AppError } from "../errors.ts";
import { CONFIG_KEYS, ConfigSchema, type Config } from "./schema.ts";

/** Keys whose env value is a comma-separated list. */
const LIST_KEYS = new Set<string>(["allowed_origins", "default_servers", "bot_fetch_hosts", "trusted_proxies"]);
/** Keys only a TOML file sets: `[[upstream]]` tables have no flat env or flag form. */
const TOML_ONLY = new Set<string>(["upstream"]);

export interface LoadSources {
  /** Parsed flags, already in config-key form (`public_url`, …), plus `config` for the TOML path. */
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  cwd?: string;
}

/**
 * defaults < TOML (`--config`, PARLEY_CONFIG, or ./parley.toml if present) < PARLEY_* env < flags.
 * Returns a frozen Config or throws INVALID_REQUEST naming the bad key and its source.
 */
export function loadConfig({ flags, env, cwd = process.cwd() }: LoadSources): Config {
  const tomlPath = configPath({ flags, env, cwd });
  const fromToml = tomlPath ? authTable(readToml(tomlPath), tomlPath) : {};

  const fromEnv: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    if (TOML_ONLY.has(key)) continue;
    const value = env[`PARLEY_${key.toUpperCase()}`];
    if (value === undefined || value === "") continue;
    fromEnv[key] = LIST_KEYS.has(key) ? value.split(",").map((s) => s.trim()).filter(Boolean) : value;
  }
  const fromFlags = Object.fromEntries(Object.entries(flags).filter(([k, v]) => k !== "config" && v !== undefined));

  const merged = { ...fromToml, ...fromEnv, ...fromFlags };
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "");
    const source = key in fromFlags ? `--${key.replaceAll("_", "-")}` : key in fromEnv ? `PARLEY_${key.toUpperCase()}` : tomlPath ?? "config";
    // A nested key is named as TOML would reach it: upstream[1].name.
    const where = issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
    throw new AppError("INVALID_REQUEST", `Invalid config ${where ? `"${where}" ` : ""}from ${source}: ${issue.message}`);
  }
  const cfg = parsed.data;
  const public_url = (cfg.public_url ?? `http://localhost:${cfg.port}`).replace(/\/+$/, "");
  return Object.freeze({ ...cfg, public_url });
}

/** The TOML file a config comes from, if any: `--config`, PARLEY_CONFIG, or ./parley.toml if present. */
export function configPath({ flags, env, cwd = process.cwd() }: LoadSources): string | undefined {
  const explicitPath = (flags.config as string | undefined) ?? env.PARLEY_CONFIG;
  return explicitPath ?? (existsSync(`${cwd}/parley.toml`) ? `${cwd}/parley.toml` : undefined);
}

/**
 * `[auth] default_servers` (the form the gateway's examples use) is `default_servers`. In TOML a
 * key cannot be both a table and a value, so `[auth]` is a table here and `auth = false` (the
 * conformance switch) stays a plain value; the table holds nothing else, and the same setting
 * twice is an error rather than a silent pick.
 */
function authTable(toml: Record<string, unknown>, path: string): Record<string, unknown> {
  const auth = toml.auth;
  if (typeof auth !== "object" || auth === null || Array.isArray(auth)) return toml;
  const { default_servers, ...others } = auth as Record<string, unknown>;
  const stray = Object.keys(others);
  if (stray.length > 0) throw new AppError("INVALID_REQUEST", `Invalid config "auth.${stray[0]}" from ${path}: [auth] takes only default_servers`);
  if ("default_servers" in toml) throw new AppError("INVALID_REQUEST", `Invalid config "default_servers" from ${path}: set either default_servers or [auth] default_servers, not both`);
  const { auth: _table, ...rest } = toml;
  return default_servers === undefined ? rest : { ...rest, default_servers };
}

function readToml(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new AppError("INVALID_REQUEST", `Cannot read config file ${path}: ${(cause as Error).message}`);
  }
  try {
    return Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new AppError("INVALID_REQUEST", `Cannot parse config file ${path}: ${(cause as Error).message}`);
  }
}
