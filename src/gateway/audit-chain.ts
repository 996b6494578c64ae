import { canonicalJson } from "../lib/canonical-json.ts";
import { sha256Hex } from "../lib/hash.ts";
import type { AuditRow, AuditStore } from "../store/index.ts";

/**
 * The audit log's hash chain, as the channel log's (src/transcript/README.md):
 *
 *   genesis = SHA-256("parley:audit:genesis")
 *   hash(r) = SHA-256(previous hash + "\n" + RFC 8785 canonical JSON of r without `hash` and without its null columns)
 *
 * Every column is covered, the id included, so an edited row, a deleted one (its id is then
 * missing) and rows moved around (a row's hash no longer follows the one before it) all show. A
 * `prune` row records where retention cut the log: the oldest remaining row chains to the hash it
 * carries. What a chain cannot show is its own end cut off, or every row after an edit rewritten
 * (whoever can write the database can do that too): keep the head `--verify` prints somewhere else
 * to compare with later.
 */
export const AUDIT_GENESIS = sha256Hex("parley:audit:genesis");

/** The hash of `row` (its `hash` ignored) after the row whose hash is `prev`. */
export function auditHash(prev: string, row: Omit<AuditRow, "hash"> | AuditRow): string {
  const hashed: Record<string, unknown> = {};
  for (const key in row) {
    const value = row[key as keyof typeof row];
    if (key !== "hash" && value !== null) hashed[key] = value;
  }
  return sha256Hex(`${prev}\n${canonicalJson(hashed)}`);
}

export type AuditVerdict =
  | { ok: true; rows: number; first: number | null; last: number | null; head: string }
  /** `row` is the id of the first row that breaks the chain (or the first missing one). */
  | { ok: false; row: number; reason: string; checked: number };

/**
 * Walks the whole log in one read snapshot, a page at a time (memory stays bounded), and returns
 * the first row that breaks the chain, or how many rows it checked and the head.
 */
export function verifyAuditLog(store: AuditStore): AuditVerdict {
  return store.snapshot(() => {
    const first = store.firstId();
    if (first === null) return { ok: true, rows: 0, first: null, last: null, head: AUDIT_GENESIS };
    const prune = store.latestPrune();
    let expected = prune ? prune.through_id! + 1 : 1;
    let prev = prune ? prune.through_hash! : AUDIT_GENESIS;
    if (first < expected) {
      return { ok: false, row: first, reason: `row #${first} should not exist: prune row #${prune!.id} says every row up to #${prune!.through_id} was deleted`, checked: 0 };
    }
    let checked = 0;
    for (const row of store.rows()) {
      if (row.id !== expected) {
        const gap = row.id - 1 === expected ? `row #${expected} is missing` : `rows #${expected}–#${row.id - 1} are missing`;
        const where = checked === 0 ? `the log starts at #${row.id}` : `#${expected - 1} is followed by #${row.id}`;
        return { ok: false, row: expected, reason: `${gap}: deleted (${where})`, checked };
      }
      if (auditHash(prev, row) !== row.hash) {
        return { ok: false, row: row.id, reason: `row #${row.id} (${describeAuditRow(row)}) does not match its hash: it was changed, or put in another row's place`, checked };
      }
      prev = row.hash;
      expected++;
      checked++;
    }
    return { ok: true, rows: checked, first, last: expected - 1, head: prev };
  });
}

/** A row in one line, for the operator. */
export function describeAuditRow(row: AuditRow): string {
  if (row.kind === "prune") return `${row.ts} retention deleted ${row.count} rows, up to #${row.through_id}`;
  if (row.kind === "lost") return `${row.ts} ${row.count} calls not recorded (storage unavailable)`;
  return `${row.ts} ${row.who} ${row.server}/${row.tool} ${row.outcome}`;
}
