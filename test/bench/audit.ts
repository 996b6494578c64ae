/**
 * The audit log's costs (`bun test/bench/audit.ts`): what recording a call costs the gateway (the
 * event-loop time of `record` plus its share of the batched write), and how long `parley audit
 * --verify` takes for 10,000 / 100,000 / 1,000,000 rows. One process, real SQLite in a temp dir.
 *
 * Env: AUDIT_BENCH_MAX (1000000) the largest log verified.
 */
import { AuditLog, verifyAuditLog } from "../../src/gateway/index.ts";
import { log } from "../../src/lib/log.ts";
import { AuditStore, SqliteStore } from "../../src/store/index.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAX = Number(process.env.AUDIT_BENCH_MAX ?? 1_000_000);
const BATCH = 5000;
log.configure({ level: "error" });

function fill(audit: AuditLog, from: number, to: number): void {
  const now = Date.now();
  for (let i = from; i < to; i++) {
    audit.record({
      who: i % 2 ? "agent:agent_name2" : "agent:agent_name1",
      server: "code",
      tool: "run_python_code",
      startedAt: now + i,
      durationMs: 1.5,
      outcome: "ok",
      argBytes: 48,
      resultBytes: 120,
    });
    // The gateway's batches are one event-loop turn's calls; here BATCH at a time.
    if ((i + 1) % BATCH === 0) audit.flush();
  }
  audit.flush();
}

using dir = tempDir("parley-audit-bench-");
const store = new SqliteStore(dir.path);
const audit = new AuditLog(new AuditStore(store.db), { retentionDays: 36_500, maxRows: 1_000_000_000 });
const auditStore = new AuditStore(store.db);
let rows = 0;
process.stdout.write("rows       record+write µs/call   verify s    verify µs/row\n");
for (const target of [10_000, 100_000, 1_000_000].filter((n) => n <= MAX)) {
  const t0 = performance.now();
  fill(audit, rows, target);
  const perCall = ((performance.now() - t0) * 1000) / (target - rows);
  rows = target;
  const t1 = performance.now();
  const verdict = verifyAuditLog(auditStore);
  const verifyMs = performance.now() - t1;
  if (!verdict.ok) throw new Error(`the log did not verify: ${JSON.stringify(verdict)}`);
  process.stdout.write(`${String(rows).padEnd(10)} ${perCall.toFixed(2).padStart(20)}   ${(verifyMs / 1000).toFixed(2).padStart(8)}   ${((verifyMs * 1000) / rows).toFixed(2).padStart(13)}\n`);
}
await audit.close();
store.close();
