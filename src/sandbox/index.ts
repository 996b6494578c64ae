/**
 * The bot sandbox, which runs the bot API of bots/README.md: QuickJS off the main thread (presets in a few shared workers,
 * inline code on a thread of its own), one capped wasm instance per bot, a deterministic budget,
 * seeded randomness and a fixed clock, so a replay reproduces every bot message. It runs the hook
 * protocol of src/transcript/bot-protocol.ts with that protocol's own types.
 */
export { SandboxEngine, type EngineTuning, type Fetcher, type HookUsage } from "./bot-engine.ts";
export { BOT_POST_KINDS } from "./host-api.ts";
export { DEFAULT_LIMITS, type BotErrorReason, type SandboxLimits } from "./limits.ts";
export { ENGINE_ID } from "./engine.ts";
export { BotManifestSchema, type BotManifest } from "./manifest.ts";
export { BotPool, defaultPool, type BotPoolOptions } from "./pool.ts";
export { PRESETS } from "./presets.ts";
export { allowListFetcher } from "./fetcher.ts";
