export { SqliteStore } from "./sqlite-store.ts";
export { COMMIT_TURNS } from "./group-commit.ts";
export { MIGRATIONS } from "./migrations.ts";
export * from "./types.ts";
export { SqliteAuthStore } from "./sqlite-auth-store.ts";
export type * from "./auth-types.ts";
