import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AuditLog } from "../../src/gateway/index.ts";
import { AuditStore, SqliteStore } from "../../src/store/index.ts";
import { tracked } from "../helpers/upstreams.ts";
import { captureLog } from "../helpers/log-capture.ts";
import { parley } from "../helpers/parley-cli.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const SECRET = "sk-live-0b8e-DO-NOT-LEAK";
const HOUR = 3_600_000;

/**
 * A data directory whose audit log holds `n` calls through AuditLog.track, as the gateway makes
 * them: agent_name1 and agent_name2 in turn (every fifth by an OAuth user), the first half two
 * hours ago, the rest a minute ago, each with a secret in its arguments and its result.
 */
async function seeded(n: number, options = { retentionDays: 90, maxRows: 1_000_000 }) {
  const dir = tempDir("parley-audit-");
  using _quiet = captureLog("error");
  const store = new SqliteStore(dir.path);
  const audit = new AuditLog(new AuditStore(store.db), options);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const who = i % 5 === 4 ? "usr_AbCdEf123456" : i % 2 ? "agent:agent_name2" : "agent:agent_name1";
    audit.record({
      who,
      server: i % 3 ? "battle" : "code",
      tool: i % 3 ? "update_battle_process" : "run_python_code",
      startedAt: now - (i < n / 2 ? 2 * HOUR : 60_000) + i,
      durationMs: 2.25,
      outcome: i % 7 === 6 ? "UPSTREAM_UNAVAILABLE" : "ok",
      argBytes: JSON.stringify({ code: `print("${SECRET}")` }).length,
      resultBytes: 40,
    });
    if (i % 5000 === 4999) audit.flush();
  }
  await tracked(audit, { who: "agent:agent_name1", server: "code", tool: "run_python_code" }, { code: SECRET }, async () => ({ content: [{ type: "text", text: SECRET }] }));
  await audit.close();
  store.close();
  return dir;
}

/** Changes the audit log as someone with write access to the database file could. */
function tamper(dir: string, ...sql: string[]) {
  const db = new Database(join(dir, "parley.db"));
  for (const s of sql) db.run(s);
  db.close();
}

describe("parley audit (issue 11 item 5)", () => {
  test("prints every call oldest first: who, server/tool, outcome, duration and sizes, never a value; --agent and --since filter; --json gives the rows as stored", async () => {
    using dir = await seeded(20);
    const all = await parley(["audit", "--data", dir.path]);
    expect(all.code).toBe(0);
    const lines = all.out.trim().split("\n");
    expect(lines).toHaveLength(21);
    const argBytes = JSON.stringify({ code: `print("${SECRET}")` }).length;
    expect(lines[0]).toMatch(new RegExp(`^#1  \\S+Z  agent:agent_name1  code/run_python_code  ok  2\\.25 ms  args ${argBytes} B  result 40 B$`));
    expect(lines[6]).toContain("UPSTREAM_UNAVAILABLE");
    expect(all.out).not.toContain(SECRET);

    const one = await parley(["audit", "--agent", "agent_name1", "--data", dir.path]);
    expect(one.out.trim().split("\n").map((l) => l.split("  ")[0])).toEqual(["#1", "#3", "#7", "#9", "#11", "#13", "#17", "#19", "#21"]);
    const user = await parley(["audit", "--agent", "usr_AbCdEf123456", "--data", dir.path]);
    expect(user.out.trim().split("\n").map((l) => l.split("  ")[0])).toEqual(["#5", "#10", "#15", "#20"]);
    const recent = await parley(["audit", "--since", "1h", "--data", dir.path]);
    expect(recent.out.trim().split("\n").map((l) => l.split("  ")[0])).toEqual(["#11", "#12", "#13", "#14", "#15", "#16", "#17", "#18", "#19", "#20", "#21"]);
    const both = await parley(["audit", "--agent", "agent_name2", "--since", "1h", "--data", dir.path]);
    expect(both.out.trim().split("\n").map((l) => l.split("  ")[0])).toEqual(["#12", "#14", "#16", "#18"]);
    const since = new Date(Date.now() - 3 * HOUR).toISOString();
    expect((await parley(["audit", "--since", since, "--data", dir.path])).out.trim().split("\n")).toHaveLength(21);
    expect((await parley(["audit", "--agent", "nobody", "--data", dir.path])).out).toBe("No audit rows.\n");

    const json = await parley(["audit", "--json", "--agent", "agent_name1", "--since", "1h", "--data", dir.path]);
    const rows = json.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual([11, 13, 17, 19, 21]);
    expect(rows.at(-1)).toMatchObject({ kind: "call", who: "agent:agent_name1", server: "code", tool: "run_python_code", method: "tools/call", outcome: "ok", arg_bytes: JSON.stringify({ code: SECRET }).length });
    expect(rows.at(-1).hash).toMatch(/^[0-9a-f]{64}$/);
    expect(json.out).not.toContain(SECRET);
  });

  test("bad flags: one line, exit 2; a directory with no data: exit 2", async () => {
    using dir = await seeded(1);
    for (const [args, message] of [
      [["--since", "yesterday"], '--since takes a duration like 1h, 30m or 7d, or a time like 2026-11-29T10:00:00Z (got "yesterday")'],
      [["--verify", "--agent", "a"], "--verify checks the whole log: it takes no --agent or --since"],
      [["--nope"], "Unknown option '--nope'"],
    ] as const) {
      const run = await parley(["audit", ...args, "--data", dir.path]);
      expect([run.code, run.err]).toEqual([2, expect.stringContaining(message)]);
    }
    using empty = tempDir();
    const none = await parley(["audit", "--data", empty.path]);
    expect([none.code, none.err]).toEqual([2, `parley: no Parley data at ${empty.path}: pass the server's --data or --config\n`]);
  });

  test("--verify: VALID with the head (exit 0); an edited outcome, a deleted middle row and reordered rows: INVALID naming the row (exit 1)", async () => {
    using dir = await seeded(50);
    const valid = await parley(["audit", "--verify", "--data", dir.path]);
    expect(valid.code).toBe(0);
    expect(valid.out).toMatch(new RegExp(`^VALID: audit log of ${dir.path}: 51 rows, #1–#51; head [0-9a-f]{64}\\n$`));

    const cases: [string, string[], RegExp][] = [
      ["edited outcome", ["UPDATE audit_log SET outcome = 'ok' WHERE id = 7"], /^INVALID: .*: row #7 \(\S+ agent:agent_name1 code\/run_python_code ok\) does not match its hash: it was changed, or put in another row's place \(6 rows before it verified\)\n$/],
      ["deleted middle row", ["DELETE FROM audit_log WHERE id = 25"], /^INVALID: .*: row #25 is missing: deleted \(#24 is followed by #26\) \(24 rows before it verified\)\n$/],
      ["reordered rows", ["UPDATE audit_log SET id = -30 WHERE id = 30", "UPDATE audit_log SET id = 30 WHERE id = 31", "UPDATE audit_log SET id = 31 WHERE id = -30"], /^INVALID: .*: row #30 .* does not match its hash/],
    ];
    for (const [name, sql, expected] of cases) {
      using copy = tempDir("parley-audit-copy-");
      await Bun.$`cp -a ${dir.path}/. ${copy.path}/`.quiet();
      tamper(copy.path, ...sql);
      const run = await parley(["audit", "--verify", "--data", copy.path]);
      expect([name, run.code, run.out]).toEqual([name, 1, expect.stringMatching(expected)]);
    }
    const json = await parley(["audit", "--verify", "--json", "--data", dir.path]);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, rows: 51, first: 1, last: 51 });
  });

  test("an audit of 10,000 calls verifies in bounded time (well under 10 s; figures in test/bench/audit.ts)", async () => {
    using dir = await seeded(10_000);
    const started = performance.now();
    const run = await parley(["audit", "--verify", "--data", dir.path]);
    const ms = performance.now() - started;
    expect(run.out).toMatch(/^VALID: .*: 10001 rows, #1–#10001; head [0-9a-f]{64}\n$/);
    expect(ms).toBeLessThan(10_000);
  });

  test("the server applies retention at start-up (audit_max_rows): the oldest rows go, a prune row keeps the rest verifiable", async () => {
    using dir = await seeded(3000);
    await using srv = await startServer({ dataDir: dir.path, env: { PARLEY_AUDIT_MAX_ROWS: "1000" } });
    // Retention runs right after the start, off the start's path: wait for its log line.
    for (let i = 0; i < 500 && !srv.stderr().includes("audit log pruned"); i++) await Bun.sleep(10);
    expect(srv.stderr()).toMatch(/audit log pruned deleted=2001 retention_days=90 max_rows=1000/);
    const verify = await parley(["audit", "--verify", "--data", dir.path]);
    expect([verify.code, verify.out]).toEqual([0, expect.stringContaining(": 1001 rows, #2002–#3002 (older rows deleted by retention); head ")]);
    const rows = (await parley(["audit", "--json", "--data", dir.path])).out.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.at(-1)).toMatchObject({ id: 3002, kind: "prune", through_id: 2001, count: 2001 });
    expect((await parley(["audit", "--data", dir.path])).out).toContain("#3002  ");
  });
});
