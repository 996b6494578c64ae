import { describe, expect, test } from "bun:test";
import { sweepAuth } from "../../../src/auth/sweeper.ts";
import { SqliteAuthStore, SqliteStore, type GrantRecord } from "../../../src/store/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const NOW = Date.parse("2030-01-10T00:00:00.000Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
const SETTINGS = { accessTokenTtlSeconds: 3600 };

function authStore() {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  return {
    auth: new SqliteAuthStore(store.db),
    db: store.db,
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}

type Auth = SqliteAuthStore;

const client = (auth: Auth, id: string, createdAt: number, extra: { legacy?: string; secret?: boolean } = {}) =>
  auth.createClient({
    client_id: id,
    secret_hash: extra.secret ? "f".repeat(64) : null,
    metadata: { redirect_uris: ["http://localhost:1/cb"] },
    legacy_subject: extra.legacy ?? null,
    created_at: iso(createdAt),
    first_grant_at: extra.legacy ? 0 : null,
  });

/** A client that signed in at `at` from browser `browser`, with an OAuth grant `grantId`. */
async function signedIn(auth: Auth, clientId: string, grantId: string, at: number) {
  await client(auth, clientId, at - MIN);
  const subject = await auth.bindBrowserSubject(`browser-of-${clientId}`, clientId, `usr_${clientId}`, at);
  await auth.createGrant(grant(grantId, subject, clientId, at));
  return subject;
}

const grant = (id: string, subject: string, clientId: string | null, at: number, kind: GrantRecord["kind"] = "oauth"): GrantRecord => ({
  id,
  kind,
  subject,
  client_id: clientId,
  name: kind === "agent" ? "bot" : null,
  scope: "channels",
  resource: "http://localhost/mcp",
  created_at: iso(at),
  expires_at: kind === "agent" ? at + DAY : null,
  revoked_at: null,
});

const refresh = (auth: Auth, hash: string, grantId: string, clientId: string, expiresAt: number, usedAt: number | null = null) =>
  auth.saveRefresh({ token_hash: hash, grant_id: grantId, client_id: clientId, expires_at: expiresAt, used_at: usedAt });

const code = (auth: Auth, hash: string, expiresAt: number, grantId: string | null = null) =>
  auth.saveCode({
    code_hash: hash,
    client_id: "cli_live",
    redirect_uri: "http://localhost:1/cb",
    code_challenge: "c",
    resource: "http://localhost/mcp",
    scope: "channels",
    subject: "usr_x",
    expires_at: expiresAt,
    grant_id: grantId,
    browser_hash: null,
  });

describe("sweepAuth()", () => {
  test("deletes expired codes, clients never signed in after a day and dead refresh families; never a live client, grant or token", async () => {
    using s = authStore();
    const { auth } = s;
    // Clients: never signed in (2 days old: gone; 1 hour old: kept), signed in long ago (kept), legacy (kept).
    await client(auth, "cli_pending_old", NOW - 2 * DAY);
    await client(auth, "cli_pending_new", NOW - HOUR);
    await client(auth, "cli_legacy", NOW - 5 * DAY, { legacy: "usr_legacy", secret: true });
    const liveSubject = await signedIn(auth, "cli_live", "gr_live", NOW - 3 * DAY);
    await signedIn(auth, "cli_dead", "gr_dead", NOW - 40 * DAY);
    await signedIn(auth, "cli_revoked", "gr_revoked", NOW - 2 * HOUR);
    await signedIn(auth, "cli_recent", "gr_recent", NOW - 31 * DAY);
    await signedIn(auth, "cli_fresh", "gr_fresh", NOW - MIN);

    // The live family: its current token, one rotated an hour ago (kept for reuse detection), one two days ago (gone).
    await refresh(auth, "rt_live_current", "gr_live", "cli_live", NOW + 29 * DAY);
    await refresh(auth, "rt_live_rotated_recent", "gr_live", "cli_live", NOW + 29 * DAY - HOUR, NOW - HOUR);
    await refresh(auth, "rt_live_rotated_old", "gr_live", "cli_live", NOW + 28 * DAY, NOW - 2 * DAY);
    // A family whose newest token expired 10 days ago: dead, with every token.
    await refresh(auth, "rt_dead_1", "gr_dead", "cli_dead", NOW - 11 * DAY, NOW - 40 * DAY);
    await refresh(auth, "rt_dead_2", "gr_dead", "cli_dead", NOW - 10 * DAY);
    // Revoked: dead at once.
    await refresh(auth, "rt_revoked", "gr_revoked", "cli_revoked", NOW + 30 * DAY);
    await auth.revokeGrant("gr_revoked");
    // Expired 30 minutes ago, but its last access token (1 h) may still be in use: kept.
    await refresh(auth, "rt_recent", "gr_recent", "cli_recent", NOW - 30 * MIN);
    // gr_fresh has no refresh token yet (its exchange is under way): kept.
    // Agent tokens are the operator's: kept even when revoked and expired (`token list` shows them).
    await auth.createGrant(grant("agt_old", "agent:bot", null, NOW - 60 * DAY, "agent"));
    await auth.revokeGrant("agt_old");

    // Codes: unused and expired (gone), unused and live (kept), used and expired 2 h ago (kept so a
    // replay still revokes), used and expired 2 days ago (gone).
    await code(auth, "code_unused_expired", NOW - 1000);
    await code(auth, "code_unused_live", NOW + 30_000);
    await code(auth, "code_used_recent", NOW - 2 * HOUR, "gr_live");
    await code(auth, "code_used_old", NOW - 2 * DAY, "gr_live");

    const counts = await sweepAuth({ store: auth, settings: SETTINGS }, NOW);
    // rotated: rt_live_rotated_old and rt_dead_1 (rotated 40 days ago; its family goes too).
    expect(counts).toEqual({ codes: 2, clients: 1, families: 2, rotated: 2 });

    const clients = await Promise.all(["cli_pending_old", "cli_pending_new", "cli_legacy", "cli_live", "cli_dead", "cli_revoked", "cli_recent", "cli_fresh"].map(async (id) => [id, (await auth.getClient(id)) !== null]));
    expect(Object.fromEntries(clients)).toEqual({
      cli_pending_old: false,
      cli_pending_new: true,
      cli_legacy: true,
      cli_live: true,
      cli_dead: true,
      cli_revoked: true,
      cli_recent: true,
      cli_fresh: true,
    });
    const grants = await Promise.all(["gr_live", "gr_dead", "gr_revoked", "gr_recent", "gr_fresh", "agt_old"].map(async (id) => [id, (await auth.getGrant(id)) !== null]));
    expect(Object.fromEntries(grants)).toEqual({ gr_live: true, gr_dead: false, gr_revoked: false, gr_recent: true, gr_fresh: true, agt_old: true });
    const tokens = ["rt_live_current", "rt_live_rotated_recent", "rt_live_rotated_old", "rt_dead_1", "rt_dead_2", "rt_revoked", "rt_recent"];
    expect(Object.fromEntries(await Promise.all(tokens.map(async (t) => [t, (await auth.getRefresh(t)) !== null])))).toEqual({
      rt_live_current: true,
      rt_live_rotated_recent: true,
      rt_live_rotated_old: false,
      rt_dead_1: false,
      rt_dead_2: false,
      rt_revoked: false,
      rt_recent: true,
    });
    const codes = ["code_unused_expired", "code_unused_live", "code_used_recent", "code_used_old"];
    expect(Object.fromEntries(await Promise.all(codes.map(async (c) => [c, (await auth.getCode(c)) !== null])))).toEqual({
      code_unused_expired: false,
      code_unused_live: true,
      code_used_recent: true,
      code_used_old: false,
    });
    // Identities are never swept: the browser signing in again through a kept client is the same user.
    expect(await auth.findBrowserSubject("browser-of-cli_live", "cli_live")).toBe(liveSubject);
    expect(await auth.findBrowserSubject("browser-of-cli_dead", "cli_dead")).toBe("usr_cli_dead");

    // A second sweep at the same instant finds nothing.
    expect(await sweepAuth({ store: auth, settings: SETTINGS }, NOW)).toEqual({ codes: 0, clients: 0, families: 0, rotated: 0 });
  });

  test("works through a backlog in bounded steps: every step stops at `batch` rows of each kind", async () => {
    using s = authStore();
    const { auth, db } = s;
    for (let i = 0; i < 23; i++) await client(auth, `cli_flood_${i}`, NOW - 2 * DAY);
    for (let i = 0; i < 17; i++) await code(auth, `code_${i}`, NOW - 1000);
    await signedIn(auth, "cli_loop", "gr_loop", NOW - 40 * DAY);
    for (let i = 0; i < 11; i++) await refresh(auth, `rt_loop_${i}`, "gr_loop", "cli_loop", NOW - 10 * DAY);

    const steps: number[] = [];
    const store = new Proxy(auth, {
      get(target, prop, receiver) {
        if (prop !== "sweep") return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<Auth["sweep"]>) => {
          const step = await target.sweep(...args);
          steps.push(step.codes + step.clients + step.rotated);
          return step;
        };
      },
    });
    const counts = await sweepAuth({ store, settings: SETTINGS }, NOW, 5);
    expect(counts).toEqual({ codes: 17, clients: 23, families: 1, rotated: 0 });
    expect(Math.max(...steps)).toBeLessThanOrEqual(5 * 3);
    expect(steps.length).toBeGreaterThanOrEqual(5);
    const left = (table: string) => db.query<{ n: number }, []>(`SELECT COUNT(*) AS n FROM ${table}`).get()!.n;
    expect([left("oauth_codes"), left("refresh_tokens"), left("grants")]).toEqual([0, 0, 0]);
    expect(left("oauth_clients")).toBe(1); // cli_loop signed in once: kept
  });
});
