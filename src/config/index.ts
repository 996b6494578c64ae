export { configPath, loadConfig, type LoadSources } from "./load.ts";
export { keysNeedingRestart, LIVE_KEYS } from "./reload.ts";
export { ConfigSchema, CONFIG_KEYS, GRANT_ENTRY, type Config } from "./schema.ts";
export { ENV_REFERENCE, resolveHeaders, UPSTREAM_NAME, type UpstreamConfig } from "./upstreams.ts";
export { watchConfigFile } from "./watch.ts";
