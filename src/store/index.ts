export { SqliteStore } from "./sqlite-store.ts";
export { MIGRATIONS } from "./migrations.ts";
export * from "./types.ts";
export { SqliteAuthStore } from "./sqlite-auth-store.ts";
export type * from "./auth-types.ts";
