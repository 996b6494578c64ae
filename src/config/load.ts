import { existsSync, readFileSync } from "node:fs";
import { AppError } from "../errors.ts";
import { CONFIG_KEYS, ConfigSchema, type Config } from "./schema.ts";

/** Keys whose env value is a comma-separated list. */
const LIST_KEYS = new Set<string>(["allowed_origins", "default_servers", "bot_fetch_hosts", "trusted_proxies"]);

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
  const explicitPath = (flags.config as string | undefined) ?? env.PARLEY_CONFIG;
  const tomlPath = explicitPath ?? (existsSync(`${cwd}/parley.toml`) ? `${cwd}/parley.toml` : undefined);
  const fromToml = tomlPath ? readToml(tomlPath) : {};

  const fromEnv: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
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
    throw new AppError("INVALID_REQUEST", `Invalid config ${key ? `"${key}" ` : ""}from ${source}: ${issue.message}`);
  }
  const cfg = parsed.data;
  const public_url = (cfg.public_url ?? `http://localhost:${cfg.port}`).replace(/\/+$/, "");
  return Object.freeze({ ...cfg, public_url });
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
