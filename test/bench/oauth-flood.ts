/**
 * OAuth floods (issue 9, item 3), before and after, in one run:
 *   bun test/bench/oauth-flood.ts [BEFORE_TREE]
 * BEFORE_TREE is a checkout of the unchanged code (e.g. `git archive <commit> | tar -x -C DIR`
 * with node_modules linked in); without it only this tree is measured.
 *
 *   (r) 5,000 /register calls with 60 KiB of metadata each, then 5,000 with ~200 B, from one
 *       address, 32 in flight: answers by status, wall time, database + WAL growth, server RSS.
 *   (s) the expiry sweep over a backlog (200k expired codes, 100k clients never signed in,
 *       50k dead refresh families of 2 tokens), in-process on a real SQLite file: total time,
 *       the longest step, and the longest event-loop stall seen by a 1 ms timer meanwhile.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { sweepAuth } from "../../src/auth/sweeper.ts";
import { SqliteAuthStore, SqliteStore, type AuthStore } from "../../src/store/index.ts";
import { BUN, ROOT, vmRssKiB } from "./procs.ts";

const N = Number(process.env.BENCH_FLOOD ?? 5000);
const CONCURRENCY = 32;

async function serve(tree: string) {
  const data = mkdtempSync(join(tmpdir(), "parley-bench-flood-"));
  const proc = Bun.spawn([BUN, join(tree, "src/main.ts"), "serve", "--port", "0", "--data", data], { cwd: data, stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server in ${tree} exited: ${text}`);
    text += new TextDecoder().decode(value);
    const m = /serving at http:\/\/\S+:(\d+)/.exec(text);
    if (m) {
      reader.releaseLock();
      return {
        url: `http://localhost:${m[1]}`,
        pid: proc.pid,
        bytes: () => ["parley.db", "parley.db-wal"].reduce((n, f) => n + (statSync(join(data, f), { throwIfNoEntry: false })?.size ?? 0), 0),
        async stop() {
          proc.kill("SIGTERM");
          await proc.exited;
          rmSync(data, { recursive: true, force: true });
        },
      };
    }
  }
}

async function flood(url: string, body: string) {
  const statuses = new Map<number, number>();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        next++;
        const res = await fetch(`${url}/register`, { method: "POST", headers: { "content-type": "application/json" }, body });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, statuses: [...statuses].sort().map(([s, n]) => `${n} × ${s}`).join(", ") };
}

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const redirect = { redirect_uris: ["http://localhost:53682/callback"], token_endpoint_auth_method: "none" };
const BIG = JSON.stringify({ ...redirect, client_name: "x".repeat(60 * 1024) });
const SMALL = JSON.stringify({ ...redirect, client_name: "flood" });

async function registrationFlood(label: string, tree: string) {
  for (const [kind, body] of [["60 KiB", BIG], ["~200 B", SMALL]] as const) {
    const srv = await serve(tree);
    try {
      const before = srv.bytes();
      const r = await flood(srv.url, body);
      const grew = srv.bytes() - before;
      console.log(
        `(r) ${label.padEnd(6)} ${N} × ${kind.padEnd(6)}: ${r.statuses.padEnd(24)} in ${r.seconds.toFixed(1)} s; DB+WAL +${MiB(grew)}; server RSS ${(vmRssKiB(srv.pid) / 1024).toFixed(0)} MiB`,
      );
    } finally {
      await srv.stop();
    }
  }
}

async function sweepBacklog() {
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-sweep-"));
  const store = new SqliteStore(dir);
  try {
    const db: Database = store.db;
    const now = Date.now();
    const old = new Date(now - 2 * 86_400_000).toISOString();
    db.transaction(() => {
      const code = db.prepare("INSERT INTO oauth_codes (code_hash, client_id, redirect_uri, code_challenge, resource, scope, subject, expires_at, grant_id, browser_hash) VALUES (?, 'c', 'r', 'x', 'r', 's', 'u', ?, NULL, NULL)");
      for (let i = 0; i < 200_000; i++) code.run(`code${i}`, now - 1000 - i);
      const client = db.prepare("INSERT INTO oauth_clients (client_id, secret_hash, metadata, legacy_subject, created_at, first_grant_at) VALUES (?, NULL, ?, NULL, ?, NULL)");
      for (let i = 0; i < 100_000; i++) client.run(`cli${i}`, SMALL, old);
      const grant = db.prepare("INSERT INTO grants (id, kind, subject, client_id, name, scope, resource, created_at, expires_at, revoked_at, live_until) VALUES (?, 'oauth', 'u', 'c', NULL, 's', 'r', ?, NULL, NULL, ?)");
      const token = db.prepare("INSERT INTO refresh_tokens (token_hash, grant_id, client_id, expires_at, used_at) VALUES (?, ?, 'c', ?, NULL)");
      for (let i = 0; i < 50_000; i++) {
        grant.run(`gr${i}`, old, now - 86_400_000);
        token.run(`rt${i}a`, `gr${i}`, now - 86_400_000);
        token.run(`rt${i}b`, `gr${i}`, now - 86_400_000);
      }
    })();
    const auth = new SqliteAuthStore(db);
    let longestStep = 0;
    const timed: AuthStore = Object.assign(Object.create(auth), {
      sweep: async (...args: Parameters<AuthStore["sweep"]>) => {
        const t = performance.now();
        const r = await auth.sweep(...args);
        longestStep = Math.max(longestStep, performance.now() - t);
        return r;
      },
    });
    let last = performance.now();
    let stall = 0;
    const probe = setInterval(() => {
      const t = performance.now();
      stall = Math.max(stall, t - last);
      last = t;
    }, 1);
    const t0 = performance.now();
    const counts = await sweepAuth({ store: timed, settings: { accessTokenTtlSeconds: 3600 } }, now);
    const total = performance.now() - t0;
    clearInterval(probe);
    console.log(
      `(s) sweep of ${counts.codes} codes, ${counts.clients} clients, ${counts.families} families: ${(total / 1000).toFixed(2)} s; longest step ${longestStep.toFixed(1)} ms; longest event-loop stall ${stall.toFixed(1)} ms`,
    );
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const before = process.argv[2];
if (before) await registrationFlood("before", resolve(before));
await registrationFlood("after", ROOT);
await sweepBacklog();
