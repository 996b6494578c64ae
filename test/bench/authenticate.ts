/**
 * Not part of `make bench`: `bun test/bench/authenticate.ts [ROOT ...]` times the bearer check on
 * /mcp's path alone (auth's `authenticate`: cached claims, the grant read, the revocation rule), in
 * this process, for each ROOT's src/ (default: this checkout), rounds alternating between roots.
 * Steadier than post-roots.ts on a busy machine: it measures only the code that check runs.
 *
 * Env: BENCH_ROUNDS (7), BENCH_CALLS (20000) per round.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT } from "./procs.ts";
import { median } from "./stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => resolve(r)) : [ROOT];

const dirs: string[] = [];
const subjects = await Promise.all(
  roots.map(async (root) => {
    const auth = await import(join(root, "src/auth/index.ts"));
    const store = await import(join(root, "src/store/index.ts"));
    const dir = mkdtempSync(join(tmpdir(), "parley-bench-auth-"));
    dirs.push(dir);
    const db = new store.SqliteStore(dir);
    const settings = {
      issuer: "http://localhost:8201",
      resource: "http://localhost:8201/mcp",
      accessTokenTtlSeconds: 3600,
      refreshTokenTtlSeconds: 86400,
      defaultServers: ["channels"],
      knownServers: ["channels"],
    };
    const ctx = auth.createAuthContext(new store.SqliteAuthStore(db.db), await auth.loadSigningKey(dir), settings);
    const { token } = await auth.issueAgentToken(ctx, { agent: "bench", servers: ["channels"], ttl: "1h" });
    const request = new Request("http://localhost:8201/mcp", { method: "POST", headers: { host: "localhost:8201", authorization: `Bearer ${token}` } });
    const first = await auth.authenticate(ctx, request);
    if (!first.ok) throw new Error(`${root}: the token was refused`);
    return { root, run: () => auth.authenticate(ctx, request), cpu: [] as number[] };
  }),
);

try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of round % 2 ? subjects : [...subjects].reverse()) {
      const before = process.cpuUsage();
      for (let i = 0; i < CALLS; i++) await s.run();
      const used = process.cpuUsage(before);
      s.cpu.push((used.user + used.system) / CALLS);
    }
  }
} finally {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`| tree | authenticate() CPU µs/call (median) | per round |\n|---|---|---|\n`);
for (const s of subjects) process.stdout.write(`| ${s.root} | ${median(s.cpu).toFixed(2)} | ${s.cpu.map((c) => c.toFixed(2)).join(", ")} |\n`);
process.exit(0);
