import { expect } from "bun:test";
import { resolve } from "node:path";
import type { ServerProcess } from "./start-server.ts";

/** The real server behind test/fixtures/storage-server.ts: SIGUSR2 fills or empties its disk. */
export const STORAGE_FIXTURE = resolve(import.meta.dir, "../fixtures/storage-server.ts");

/** Fills or empties the fixture server's disk (SIGUSR2: SQLite's page limit) and waits until it says so. */
export async function disk(server: ServerProcess, state: "full" | "room"): Promise<void> {
  const seen = server.stdout().split(`disk: ${state}`).length;
  server.proc.kill("SIGUSR2");
  for (let i = 0; i < 500 && server.stdout().split(`disk: ${state}`).length === seen; i++) await Bun.sleep(10);
  expect(server.stdout().split(`disk: ${state}`).length).toBe(seen + 1);
}
