export { SqliteStore } from "./sqlite-store.ts";
export { MIGRATIONS } from "./migrations.ts";
export * from "./types.ts";
