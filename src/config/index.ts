export { loadConfig, type LoadSources } from "./load.ts";
export { ConfigSchema, CONFIG_KEYS, type Config } from "./schema.ts";
