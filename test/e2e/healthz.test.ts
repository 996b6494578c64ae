import { describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { startServer } from "../helpers/start-server.ts";
import { disk, STORAGE_FIXTURE } from "../helpers/storage-fixture.ts";



async function health(base: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/healthz`, { headers });
  return { status: res.status, type: res.headers.get("content-type"), cache: res.headers.get("cache-control"), body: await res.text() };
}

/** Polls /healthz until it answers `status` (a cached answer is reused for a moment); the answers seen. */
async function healthBecomes(base: string, status: number, ms = 5_000) {
  const seen: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(50)) {
    const h = await health(base);
    seen.push(h.status);
    if (h.status === status) return h;
  }
  throw new Error(`/healthz never answered ${status} within ${ms} ms: ${seen.join(" ")}`);
}

/** WAL frames written so far (the server's writes since the last checkpoint; header 32 bytes, frames of 24 + 4096). */
const walFrames = (dataDir: string) => {
  const wal = join(dataDir, "parley.db-wal");
  return existsSync(wal) ? Math.max(0, (statSync(wal).size - 32) / (24 + 4096)) : 0;
};

describe("/healthz", () => {
  test("200 {status: ok} with no token, from any Host (a load balancer's), no-store, nothing else in it", async () => {
    await using server = await startServer();
    for (const headers of [{}, { host: "10.1.2.3:8080" }] as Record<string, string>[]) {
      expect(await health(server.url, headers)).toEqual({ status: 200, type: expect.stringContaining("application/json"), cache: "no-store", body: '{"status":"ok"}' });
    }
  });

  test("503 while the store cannot take a write (a full disk), with the cause logged once under an error id; 200 again once there is room, without a restart", async () => {
    await using server = await startServer({ command: [process.execPath, STORAGE_FIXTURE] });
    expect((await health(server.url)).status).toBe(200);
    await disk(server, "full");
    const down = await healthBecomes(server.url, 503);
    expect(down).toEqual({ status: 503, type: expect.stringContaining("application/json"), cache: "no-store", body: '{"status":"unavailable"}' });
    // More probes while full: the same episode, no new line each time.
    for (let i = 0; i < 3; i++) expect((await healthBecomes(server.url, 503)).status).toBe(503);
    await disk(server, "room");
    await healthBecomes(server.url, 200);
    // The log reaches us through a pipe, a moment after the answers.
    for (let i = 0; i < 500 && !server.stderr().includes("storage works again"); i++) await Bun.sleep(10);
    const logged = [...server.stderr().matchAll(/storage error error_id=(err_[0-9a-f]{8}) kind="disk full"/g)];
    expect(logged).toHaveLength(1);
    expect(server.stderr()).toContain(`storage works again error_id=${logged[0]![1]}`);
  });

  test("a flood of /healthz is not a write flood: at most one probe write a second, answers reused meanwhile", async () => {
    await using server = await startServer();
    expect((await health(server.url)).status).toBe(200);
    const before = walFrames(server.dataDir);
    const started = performance.now();
    let answered = 0;
    for (let round = 0; round < 40; round++) {
      const statuses = await Promise.all(Array.from({ length: 32 }, async () => (await fetch(`${server.url}/healthz`)).status));
      answered += statuses.filter((s) => s === 200).length;
    }
    const seconds = (performance.now() - started) / 1000;
    expect(answered).toBe(40 * 32);
    const written = walFrames(server.dataDir) - before;
    expect(written).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  });
});
