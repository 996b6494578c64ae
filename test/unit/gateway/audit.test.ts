import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../../src/errors.ts";
import { AUDIT_GENESIS, AuditLog, auditHash, verifyAuditLog, type AuditCall } from "../../../src/gateway/index.ts";
import { AuditStore, SqliteStore } from "../../../src/store/index.ts";
import { tracked } from "../../helpers/upstreams.ts";
import { captureLog } from "../../helpers/log-capture.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const SECRET = "sk-live-7c1f0f4e-DO-NOT-LEAK";

/** An audit log on a store in a fresh temporary data directory; `reopen` is a restart. */
function auditOnDisk(options: { retentionDays: number; maxRows: number; batchMs?: number } = { retentionDays: 90, maxRows: 1_000_000 }) {
  const dir = tempDir();
  const quiet = captureLog("error");
  let store = new SqliteStore(dir.path);
  const handle = {
    dir: dir.path,
    audit: new AuditLog(new AuditStore(store.db), options),
    rows: new AuditStore(store.db),
    get db() {
      return store.db;
    },
    async reopen() {
      await handle.audit.close();
      store.close();
      store = new SqliteStore(dir.path);
      handle.rows = new AuditStore(store.db);
      handle.audit = new AuditLog(handle.rows, options);
    },
    all: () => [...handle.rows.rows()],
    verify: () => verifyAuditLog(handle.rows),
    async [Symbol.asyncDispose]() {
      await handle.audit.close();
      store.close();
      dir[Symbol.dispose]();
      quiet[Symbol.dispose]();
    },
  };
  return handle;
}

const call = (i: number, who = "agent:agent_name1"): AuditCall => ({
  who,
  server: i % 2 ? "battle" : "code",
  tool: "echo",
  startedAt: Date.parse("2026-11-29T10:00:00Z") + i * 1000,
  durationMs: 1.5,
  outcome: "ok",
  argBytes: 10 + i,
  resultBytes: 20,
});

describe("AuditLog", () => {
  test("an audited call is recorded: who, what, when, duration, outcome and sizes, written on the next turn, not the call's", async () => {
    await using disk = auditOnDisk();
    const result = await tracked(disk.audit, { who: "agent:agent_name1", server: "code", tool: "echo" }, { text: "héllo" }, async () => ({ content: [{ type: "text", text: "héllo" }] }));
    expect(result.content[0]!.text).toBe("héllo");
    expect(disk.all()).toEqual([]); // on the call's path: only a push
    await Bun.sleep(0);
    const [row] = disk.all();
    expect(row).toMatchObject({
      id: 1,
      kind: "call",
      who: "agent:agent_name1",
      server: "code",
      tool: "echo",
      method: "tools/call",
      outcome: "ok",
      arg_bytes: Buffer.byteLength(JSON.stringify({ text: "héllo" })),
      result_bytes: Buffer.byteLength(JSON.stringify(result)),
      through_id: null,
      count: null,
    });
    expect(row!.duration_us).toBeGreaterThanOrEqual(0);
    expect(Date.now() - Date.parse(row!.ts)).toBeLessThan(5000);
    expect(row!.hash).toBe(auditHash(AUDIT_GENESIS, row!));
  });

  test("the outcome: a tool error result is tool_error, a thrown AppError its code, anything else INTERNAL_ERROR; the error still reaches the caller", async () => {
    await using disk = auditOnDisk();
    const scope = { who: "usr_abc", server: "code", tool: "run_python_code" };
    const toolError = await tracked(disk.audit, scope, {}, async () => ({ isError: true, content: [] }));
    expect(await tracked(disk.audit, scope, {}, async () => Promise.reject(new AppError("UPSTREAM_UNAVAILABLE", "hung"))).catch((e: AppError) => e.code)).toBe("UPSTREAM_UNAVAILABLE");
    expect(await tracked(disk.audit, scope, {}, async () => Promise.reject(new Error("bug"))).catch((e: Error) => e.message)).toBe("bug");
    disk.audit.flush();
    expect(disk.all().map((r) => [r.outcome, r.result_bytes])).toEqual([
      ["tool_error", JSON.stringify(toolError).length],
      ["UPSTREAM_UNAVAILABLE", 0],
      ["INTERNAL_ERROR", 0],
    ]);
  });

  test("never an argument or result value: a secret in the arguments and in the result is nowhere in the database files", async () => {
    await using disk = auditOnDisk();
    const scope = { who: "agent:agent_name2", server: "docker", tool: "run_docker" };
    for (let i = 0; i < 50; i++) {
      await tracked(disk.audit, scope, { image: "alpine", args: ["sh", "-c", `echo ${SECRET}`], env: { TOKEN: SECRET } }, async () => ({ content: [{ type: "text", text: `${SECRET}\n` }] }));
    }
    await tracked(disk.audit, scope, { password: SECRET }, async () => Promise.reject(new AppError("FORBIDDEN", `bad ${SECRET}`))).catch(() => {});
    disk.audit.flush();
    const rows = disk.all();
    expect(rows).toHaveLength(51);
    expect(JSON.stringify(rows)).not.toContain(SECRET);
    expect(JSON.stringify(rows)).not.toContain("alpine");
    // The bytes on disk: the database and its write-ahead log, where new rows are first.
    const files = readdirSync(disk.dir).filter((f) => f.startsWith("parley.db"));
    expect(files).toContain("parley.db-wal");
    for (const f of files) expect(readFileSync(join(disk.dir, f)).includes(Buffer.from(SECRET))).toBe(false);
    expect(verifyAuditLog(disk.rows).ok).toBe(true);
  });

  test("with batchMs (the server's), the rows of many turns are written together once it has passed, or at close", async () => {
    await using disk = auditOnDisk({ retentionDays: 90, maxRows: 1_000_000, batchMs: 100 });
    const transactions: number[] = [];
    const append = disk.rows.append.bind(disk.rows);
    (disk.audit as unknown as { store: { append(rows: unknown[]): void } }).store.append = (rows) => {
      transactions.push(rows.length);
      append(rows as never);
    };
    for (let turn = 0; turn < 5; turn++) {
      disk.audit.record(call(turn));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(disk.all()).toEqual([]);
    await Bun.sleep(150);
    expect([transactions, disk.all().map((r) => r.id)]).toEqual([[5], [1, 2, 3, 4, 5]]);
    disk.audit.record(call(5));
    await disk.audit.close();
    expect(transactions).toEqual([5, 1]);
    expect(disk.verify().ok).toBe(true);
  });

  test("the rows of one turn are written together, in order, and a restart continues the same chain", async () => {
    await using disk = auditOnDisk();
    for (let i = 0; i < 300; i++) disk.audit.record(call(i));
    await Bun.sleep(0);
    expect(disk.all().map((r) => r.id)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    await disk.reopen();
    disk.audit.record(call(300));
    await disk.audit.close();
    const rows = disk.all();
    expect(rows.at(-1)!.id).toBe(301);
    expect(rows.at(-1)!.hash).toBe(auditHash(rows.at(-2)!.hash, rows.at(-1)!));
    expect(disk.verify()).toEqual({ ok: true, rows: 301, first: 1, last: 301, head: rows.at(-1)!.hash });
  });

  test("a full disk: calls wait (none is lost up to 10,000), the overflow is counted in a lost row once the disk has room, and the chain verifies", async () => {
    await using disk = auditOnDisk();
    disk.audit.record(call(0));
    disk.audit.flush();
    const pages = disk.db.query<{ page_count: number }, []>("PRAGMA page_count").get()!.page_count;
    disk.db.query(`PRAGMA max_page_count = ${pages}`).get();
    for (let i = 1; i <= 10_050; i++) disk.audit.record(call(i));
    expect(disk.audit.flush()).toBe(false);
    expect(disk.all()).toHaveLength(1);
    disk.db.query("PRAGMA max_page_count = 1073741823").get();
    expect(disk.audit.flush()).toBe(true);
    const rows = disk.all();
    expect(rows).toHaveLength(1 + 1 + 10_000);
    expect(rows[1]).toMatchObject({ id: 2, kind: "lost", count: 50, who: null });
    expect(rows.at(-1)).toMatchObject({ id: 10_002, kind: "call", arg_bytes: 10 + 10_000 });
    expect(disk.verify().ok).toBe(true);
  });

  test("retention by count: the oldest rows go, a prune row in the chain says where the rest continues from, and the rest verifies", async () => {
    await using disk = auditOnDisk({ retentionDays: 90, maxRows: 4000 });
    for (let i = 0; i < 12_000; i++) {
      disk.audit.record(call(i));
      if (i % 1000 === 999) disk.audit.flush();
    }
    expect(await disk.audit.prune(Date.parse("2026-11-29T12:00:00Z"))).toBe(8000);
    const rows = disk.all();
    // 8,000 deleted in two chunks of 5,000 and 3,000: two prune rows at the end of the chain.
    expect(rows[0]!.id).toBe(8001);
    expect(rows.filter((r) => r.kind === "prune").map((r) => [r.id, r.through_id, r.count])).toEqual([
      [12_001, 5000, 5000],
      [12_002, 8000, 3000],
    ]);
    expect(disk.verify()).toMatchObject({ ok: true, rows: 4002, first: 8001, last: 12_002 });
    // The chain goes on after pruning, and across a restart.
    await disk.reopen();
    disk.audit.record(call(12_000));
    disk.audit.flush();
    expect(disk.verify()).toMatchObject({ ok: true, first: 8001, last: 12_003 });
    expect(await disk.audit.prune(Date.parse("2026-11-29T12:00:00Z"))).toBe(3);
  });

  test("retention by age: rows that began before retention_days ago go, newer ones stay", async () => {
    await using disk = auditOnDisk({ retentionDays: 1, maxRows: 1_000_000 });
    const day = 86_400_000;
    const now = Date.parse("2026-11-29T10:00:00Z");
    for (let i = 0; i < 10; i++) disk.audit.record({ ...call(i), startedAt: now - 3 * day + i * 1000 });
    for (let i = 0; i < 5; i++) disk.audit.record({ ...call(i), startedAt: now - 1000 + i });
    disk.audit.flush();
    expect(await disk.audit.prune(now)).toBe(10);
    expect(disk.all().map((r) => [r.id, r.kind])).toEqual([[11, "call"], [12, "call"], [13, "call"], [14, "call"], [15, "call"], [16, "prune"]]);
    expect(disk.verify()).toMatchObject({ ok: true, first: 11, last: 16 });
    expect(await disk.audit.prune(now)).toBe(0);
  });
});

describe("verifyAuditLog()", () => {
  /** A verified log of 20 calls; `sql` changes it as someone with the database file could. */
  async function tampered(sql: string[], setup?: (disk: ReturnType<typeof auditOnDisk>) => Promise<void>) {
    const disk = auditOnDisk({ retentionDays: 90, maxRows: 15 });
    for (let i = 0; i < 20; i++) disk.audit.record(call(i, i % 3 ? "agent:agent_name1" : "usr_bob"));
    disk.audit.flush();
    await setup?.(disk);
    expect(disk.verify().ok).toBe(true);
    for (const s of sql) disk.db.run(s);
    const verdict = disk.verify();
    await disk[Symbol.asyncDispose]();
    return verdict;
  }

  test("an edited outcome is named by its row", async () => {
    expect(await tampered(["UPDATE audit_log SET outcome = 'FORBIDDEN' WHERE id = 7"])).toEqual({
      ok: false,
      row: 7,
      checked: 6,
      reason: expect.stringMatching(/^row #7 \(2026-11-29T10:00:06\.000Z usr_bob code\/echo FORBIDDEN\) does not match its hash/),
    });
  });

  test("any other edited column is named too: who, a size, the time, the kind, a column set to NULL", async () => {
    for (const edit of ["who = 'usr_alice'", "arg_bytes = arg_bytes + 1", "ts = '2026-11-29T09:00:00.000Z'", "kind = 'lost'", "method = NULL", "duration_us = 1501"]) {
      expect([edit, ((await tampered([`UPDATE audit_log SET ${edit} WHERE id = 12`])) as { row?: number }).row]).toEqual([edit, 12]);
    }
  });

  test("a deleted middle row, several rows, the first rows and the last prune's rows are each named", async () => {
    expect(await tampered(["DELETE FROM audit_log WHERE id = 9"])).toMatchObject({ ok: false, row: 9, reason: "row #9 is missing: deleted (#8 is followed by #10)" });
    expect(await tampered(["DELETE FROM audit_log WHERE id BETWEEN 9 AND 11"])).toMatchObject({ row: 9, reason: "rows #9–#11 are missing: deleted (#8 is followed by #12)" });
    expect(await tampered(["DELETE FROM audit_log WHERE id <= 2"])).toMatchObject({ row: 1, reason: "rows #1–#2 are missing: deleted (the log starts at #3)" });
    // After retention (rows up to #5 pruned): deleting the oldest remaining rows is still seen.
    const prune = async (disk: ReturnType<typeof auditOnDisk>) => void (await disk.audit.prune(Date.parse("2026-11-29T10:00:00Z")));
    expect(await tampered(["DELETE FROM audit_log WHERE id = 6"], prune)).toMatchObject({ row: 6, reason: "row #6 is missing: deleted (the log starts at #7)" });
  });

  test("reordered rows are named: two rows' contents swapped, or their ids", async () => {
    const swapContents = [
      "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE id IN (5, 6)",
      "UPDATE audit_log SET ts = (SELECT ts FROM t WHERE id = 11 - audit_log.id), who = (SELECT who FROM t WHERE id = 11 - audit_log.id), server = (SELECT server FROM t WHERE id = 11 - audit_log.id), arg_bytes = (SELECT arg_bytes FROM t WHERE id = 11 - audit_log.id), hash = (SELECT hash FROM t WHERE id = 11 - audit_log.id) WHERE id IN (5, 6)",
    ];
    expect(await tampered(swapContents)).toMatchObject({ ok: false, row: 5 });
    expect(await tampered(["UPDATE audit_log SET id = -5 WHERE id = 5", "UPDATE audit_log SET id = 5 WHERE id = 6", "UPDATE audit_log SET id = 6 WHERE id = -5"])).toMatchObject({ ok: false, row: 5 });
  });

  test("a prune row edited to hide deleted rows, or rows put back under a prune, are named", async () => {
    const prune = async (disk: ReturnType<typeof auditOnDisk>) => void (await disk.audit.prune(Date.parse("2026-11-29T10:00:00Z")));
    // Rows up to #5 were pruned (prune row #21); someone deletes #6–#7 and moves the prune row's mark.
    const moved = await tampered(["DELETE FROM audit_log WHERE id IN (6, 7)", "UPDATE audit_log SET through_id = 7 WHERE kind = 'prune'"], prune);
    expect(moved).toMatchObject({ ok: false, row: 8 });
    const back = await tampered(["INSERT INTO audit_log (id, ts, kind, hash) VALUES (3, '2026-11-29T10:00:02.000Z', 'call', 'x')"], prune);
    expect(back).toMatchObject({ ok: false, row: 3, reason: "row #3 should not exist: prune row #21 says every row up to #5 was deleted" });
  });

  test("an empty log verifies, with the genesis as its head", async () => {
    await using disk = auditOnDisk();
    expect(disk.verify()).toEqual({ ok: true, rows: 0, first: null, last: null, head: AUDIT_GENESIS });
  });
});
