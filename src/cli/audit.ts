import { AppError } from "../errors.ts";
import { describeAuditRow, verifyAuditLog } from "../gateway/index.ts";
import { printable } from "../lib/printable.ts";
import { AuditStore, type AuditQuery, type AuditRow } from "../store/index.ts";
import { openData, parseDataFlags } from "./data.ts";

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * `parley audit`: the gateway's log of upstream calls, oldest first (`--agent`: one caller's;
 * `--since`: the last hour, or since a time; `--json`: one row per line, as stored). `--verify`
 * walks the whole hash chain instead: exit 0 and its head, or exit 1 naming the first broken row.
 * Reads only: it works beside a running server.
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const { values, config } = parseDataFlags(argv, env, {
    agent: { type: "string" },
    since: { type: "string" },
    json: { type: "boolean" },
    verify: { type: "boolean" },
  });
  if (values.verify && (values.agent !== undefined || values.since !== undefined)) {
    throw new AppError("INVALID_REQUEST", "--verify checks the whole log: it takes no --agent or --since");
  }
  const query: AuditQuery = {};
  if (typeof values.agent === "string") query.who = subjectOf(values.agent);
  if (typeof values.since === "string") query.since = sinceTime(values.since);
  const data = openData(config);
  try {
    const store = new AuditStore(data.store.db);
    if (values.verify) return verify(store, data.dir, values.json === true);
    return await list(store, query, values.json === true);
  } finally {
    data.close();
  }
}

/** `agent_name1` is the agent token's subject `agent:agent_name1`; a full subject (`usr_…`) is taken as it is. */
function subjectOf(name: string): string {
  return name.includes(":") || name.startsWith("usr_") ? name : `agent:${name}`;
}

/** `1h`, `30m`, `7d`, `90s` before now, or an ISO 8601 time (`2026-11-29`, `2026-11-29T10:00:00Z`). */
export function sinceTime(value: string, now = Date.now()): string {
  const ago = /^(\d+)([smhd])$/.exec(value);
  const at = ago ? now - Number(ago[1]) * UNIT_MS[ago[2] as keyof typeof UNIT_MS] : /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(at)) throw new AppError("INVALID_REQUEST", `--since takes a duration like 1h, 30m or 7d, or a time like 2026-11-29T10:00:00Z (got ${JSON.stringify(value)})`);
  return new Date(at).toISOString();
}

async function list(store: AuditStore, query: AuditQuery, json: boolean): Promise<number> {
  // Written as read, a page at a time: the log may hold millions of rows.
  const out = Bun.stdout.writer();
  let n = 0;
  for (const row of store.rows(query)) {
    out.write(json ? `${JSON.stringify(row)}\n` : `${auditLine(row)}\n`);
    if (++n % 1000 === 0) await out.flush();
  }
  if (n === 0 && !json) out.write("No audit rows.\n");
  await out.flush();
  return 0;
}

/** One row for the terminal, control characters escaped: a resource URI is a caller's text. */
export function auditLine(row: AuditRow): string {
  if (row.kind !== "call") return `#${row.id}  ${describeAuditRow(row)}`;
  const what = `${row.server}/${row.tool}${row.method === "tools/call" ? "" : ` (${row.method})`}`;
  return printable(`#${row.id}  ${row.ts}  ${row.who}  ${what}  ${row.outcome}  ${(row.duration_us! / 1000).toFixed(2)} ms  args ${row.arg_bytes} B  result ${row.result_bytes} B`);
}

function verify(store: AuditStore, dir: string, json: boolean): number {
  const verdict = verifyAuditLog(store);
  if (json) {
    process.stdout.write(`${JSON.stringify(verdict)}\n`);
    return verdict.ok ? 0 : 1;
  }
  if (!verdict.ok) {
    process.stdout.write(`INVALID: audit log of ${dir}: ${verdict.reason} (${verdict.checked} rows before it verified)\n`);
    return 1;
  }
  const span = verdict.rows === 0 ? "no rows" : `${verdict.rows} rows, #${verdict.first}–#${verdict.last}${verdict.first! > 1 ? " (older rows deleted by retention)" : ""}`;
  process.stdout.write(`VALID: audit log of ${dir}: ${span}; head ${verdict.head}\n`);
  return 0;
}
