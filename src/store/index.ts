export { SqliteStore } from "./sqlite-store.ts";
export { COMMIT_TURNS } from "./group-commit.ts";
export { MIGRATIONS } from "./migrations.ts";
export * from "./types.ts";
export { SqliteAuthStore } from "./sqlite-auth-store.ts";
export type * from "./auth-types.ts";
export { existingDataDir, prepareDataDir } from "./data-dir.ts";
export { lockDataDir, tryLockDataDir, type DataDirHolder, type DataDirLock } from "./lock.ts";
export { OperatorQueries, type ChannelSummary, type ClientSummary } from "./operator-queries.ts";
