/**
 * What the start-up check of the database costs (src/store/db.ts): PRAGMA quick_check on large
 * databases, in process, with the file in the page cache (warm) and after dropping it (cold: a
 * start after a reboot; POSIX_FADV_DONTNEED on the file, Linux), and `parley serve` from spawn to
 * its first HTTP 200 on an empty data dir and on the two databases, warm and cold.
 *
 *   bun test/bench/startup-check.ts [OLD_CHECKOUT]
 *
 * With OLD_CHECKOUT (a checkout of the code before the check, e.g. `git archive BASE | tar -x -C DIR`
 * with node_modules linked), its server is timed in the same run, alternating with this one.
 * Env: BENCH_UNDER (230000 messages: just under the full-check size), BENCH_OVER (1000000: over it),
 *      BENCH_SPAWNS (5).
 */
import { Database } from "bun:sqlite";
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FULL_CHECK_MAX_BYTES } from "../../src/store/db.ts";
import { seedBigChannel } from "./big-channel.ts";
import { BUN, ROOT } from "./procs.ts";
import { median } from "./stats.ts";

const UNDER = Number(process.env.BENCH_UNDER ?? 230_000);
const OVER = Number(process.env.BENCH_OVER ?? 1_000_000);
const SPAWNS = Number(process.env.BENCH_SPAWNS ?? 5);
const OLD = process.argv[2] ? resolve(process.argv[2]) : null;

const libc = process.platform === "linux" ? dlopen("libc.so.6", { posix_fadvise: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.i32], returns: FFIType.i32 } }) : null;
/** Drops the file's pages from the OS page cache, so the next read comes from the disk. */
function dropCache(file: string): void {
  if (!libc) throw new Error("cold figures need Linux (posix_fadvise)");
  const fd = openSync(file, "r");
  libc.symbols.posix_fadvise(fd, 0, 0, 4 /* POSIX_FADV_DONTNEED */);
  closeSync(fd);
}

/** Reads the whole file once, so the next reads come from the page cache. */
async function warmCache(file: string): Promise<void> {
  for await (const _ of Bun.file(file).stream());
}

async function timeSql(file: string, sql: string, cold: boolean): Promise<number> {
  if (cold) dropCache(file);
  else await warmCache(file);
  const db = new Database(file, { readonly: true });
  const t0 = performance.now();
  const rows = db.query(sql).all() as Record<string, string>[];
  const ms = performance.now() - t0;
  db.close();
  if (Object.values(rows[0] ?? {})[0] !== "ok") throw new Error(`${sql}: ${JSON.stringify(rows[0])}`);
  return ms;
}

async function firstOk(root: string, dataDir: string, cold: boolean): Promise<number> {
  const file = join(dataDir, "parley.db");
  if (cold) dropCache(file);
  else if (existsSync(file)) await warmCache(file);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const t0 = performance.now();
  const proc = Bun.spawn([BUN, join(root, "src/main.ts"), "serve", "--port", String(port), "--data", dataDir], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}`);
      await Bun.sleep(1);
    }
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

const dirs: string[] = [];
try {
  const sizes: [string, number][] = [];
  for (const n of [UNDER, OVER]) {
    const dir = mkdtempSync(join(tmpdir(), "parley-bench-check-"));
    dirs.push(dir);
    process.stderr.write(`seeding ${n} messages…\n`);
    await seedBigChannel(dir, n);
    sizes.push([`${n.toLocaleString("en")} messages, ${(statSync(join(dir, "parley.db")).size / 2 ** 20).toFixed(0)} MiB`, n]);
  }
  const empty = mkdtempSync(join(tmpdir(), "parley-bench-check-"));
  dirs.push(empty);

  console.log(`\nPRAGMA quick_check in process (median of 3; full check up to ${FULL_CHECK_MAX_BYTES >> 20} MiB)`);
  console.log("| database | quick_check warm | quick_check(1) warm | every table but messages, warm | quick_check cold |");
  console.log("|---|---|---|---|---|");
  for (const [i, [label]] of sizes.entries()) {
    const file = join(dirs[i]!, "parley.db");
    const db = new Database(file, { readonly: true });
    const tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name <> 'messages'").all().map((r) => r.name);
    db.close();
    const runs = async (fn: () => Promise<number>) => median([await fn(), await fn(), await fn()]).toFixed(0);
    let partial = 0;
    for (const t of tables) partial += await timeSql(file, `PRAGMA quick_check("${t}")`, false);
    const full = await runs(() => timeSql(file, "PRAGMA quick_check", false));
    const one = await runs(() => timeSql(file, "PRAGMA quick_check(1)", false));
    const cold = await runs(() => timeSql(file, "PRAGMA quick_check", true));
    console.log(`| ${label} | ${full} ms | ${one} ms | ${partial.toFixed(1)} ms | ${cold} ms |`);
  }

  console.log(`\n\`parley serve\` (bun src/main.ts) spawn to first HTTP 200, median of ${SPAWNS}`);
  const roots: [string, string][] = [...(OLD ? ([["before", OLD]] as [string, string][]) : []), ["after", ROOT]];
  console.log(`| data dir | ${roots.map(([name]) => `${name} warm | ${name} cold`).join(" | ")} |`);
  console.log(`|---|${roots.map(() => "---|---").join("|")}|`);
  for (const [label, dir] of [["new (first start)", empty] as const, ...sizes.map(([l], i) => [l, dirs[i]!] as const)]) {
    const warm = roots.map((): number[] => []);
    const cold = roots.map((): number[] => []);
    for (let i = 0; i < SPAWNS; i++) {
      for (const [r, [, root]] of roots.entries()) {
        warm[r]!.push(await firstOk(root, dir === empty ? mkdtempSync(join(empty, "first-")) : dir, false));
        if (dir !== empty) cold[r]!.push(await firstOk(root, dir, true));
      }
    }
    const cells = roots.flatMap((_, r) => [`${median(warm[r]!).toFixed(0)} ms`, dir === empty ? "—" : `${median(cold[r]!).toFixed(0)} ms`]);
    console.log(`| ${label} | ${cells.join(" | ")} |`);
  }
} finally {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
