/**
 * The request log's own cost, in process, without the noise of a whole server: CPU per request of
 * src/http/request-log.ts's logRequests around a handler that answers at once (noteCaller
 * included), at --log-level info in each format with the lines written to a file, and at warn (no
 * line), against the handler alone. Complements log-cost.ts (the whole stack, which on a shared
 * machine varies more between rounds than this costs).
 *
 *   bun test/bench/log-line.ts        Env: BENCH_REQUESTS (200000)
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { logRequests, noteCaller } from "../../src/http/request-log.ts";
import { log } from "../../src/lib/log.ts";

const N = Number(process.env.BENCH_REQUESTS ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), "parley-log-line-"));
const fd = openSync(join(dir, "stderr.log"), "w");
const server = {} as Server<undefined>;
const response = new Response(null, { status: 200 });
const handler = async (request: Request) => {
  noteCaller(request, "usr_AbCdEfGhIjKlMnOpQrStUv");
  return response;
};
const requests = Array.from({ length: 1024 }, (_, i) => new Request(`http://127.0.0.1:8201/mcp?n=${i}`, { method: "POST" }));

async function cpuPerRequest(fetch: (r: Request, s: Server<undefined>) => Response | Promise<Response>): Promise<number> {
  const c0 = process.cpuUsage();
  // Batches of 64 in flight, as concurrent requests are, so lines of one turn share a write.
  for (let i = 0; i < N; i += 64) await Promise.all(Array.from({ length: 64 }, (_, j) => fetch(requests[(i + j) & 1023]!, server)));
  log.flush();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}

const cases: [string, () => Promise<number>][] = [
  ["handler alone", () => cpuPerRequest(handler)],
  ["logRequests, --log-level warn (no line)", () => (log.configure({ level: "warn" }), cpuPerRequest(logRequests(handler)))],
  ["logRequests, info, text, to a file", () => (log.configure({ level: "info", format: "text", sink: (t) => void writeSync(fd, t) }), cpuPerRequest(logRequests(handler)))],
  ["logRequests, info, json, to a file", () => (log.configure({ level: "info", format: "json", sink: (t) => void writeSync(fd, t) }), cpuPerRequest(logRequests(handler)))],
];
const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < 6; round++) for (const [name, run] of cases) (round > 0 ? results.get(name)! : []).push(await run());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (const [name, xs] of results) process.stdout.write(`${name.padEnd(44)} ${median(xs).toFixed(2)} µs CPU per request (rounds ${xs.map((x) => x.toFixed(2)).join(" ")})\n`);
closeSync(fd);
rmSync(dir, { recursive: true, force: true });
