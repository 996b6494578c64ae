/**
 * Upgrading a deployment to per-browser identities (migration 0006). Before it, a client's first
 * sign-in bound one identity to the client itself, which anyone with the public client_id could
 * then sign in as. The data directory here is written as the previous version left it (migrations
 * up to 0005, rows as it stored them); the real server then starts on it.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MIGRATIONS } from "../../src/store/index.ts";
import { authorize, CookieJar, pkcePair, REDIRECT_URI, signInClient, tokenRequest } from "../helpers/oauth.ts";
import { waitFor } from "../helpers/mcp-remote.ts";
import { startServer } from "../helpers/start-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const DAY = 86_400_000;
const sha256 = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
const subOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sub as string;
const CONF_SECRET = "cs_legacy_confidential_secret_0123456789abcdef";

/** A data dir as the version before 0006 left it: two signed-in clients, one that never signed in. */
function legacyDataDir(path: string): void {
  const db = new Database(join(path, "parley.db"), { create: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
  for (const m of MIGRATIONS.filter((m) => m.name < "0006")) {
    db.run(m.sql);
    db.run("INSERT INTO _migrations VALUES (?, ?)", [m.name, new Date().toISOString()]);
  }
  const meta = (method: string) => JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: method, grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] });
  const long = new Date(Date.now() - 5 * DAY).toISOString();
  const insertClient = db.prepare("INSERT INTO oauth_clients (client_id, secret_hash, metadata, subject, created_at) VALUES (?, ?, ?, ?, ?)");
  insertClient.run("cli_legacy_public", null, meta("none"), "usr_legacy_public", long);
  insertClient.run("cli_legacy_conf", sha256(CONF_SECRET), meta("client_secret_post"), "usr_legacy_conf", long);
  insertClient.run("cli_legacy_abandoned", null, meta("none"), null, long);
  // Each signed-in client holds the grant and refresh token of its sign-in before the upgrade.
  for (const [clientId, subject] of [["cli_legacy_public", "usr_legacy_public"], ["cli_legacy_conf", "usr_legacy_conf"]] as const) {
    db.run("INSERT INTO grants (id, kind, subject, client_id, name, scope, resource, created_at, expires_at, revoked_at) VALUES (?, 'oauth', ?, ?, NULL, 'channels', 'http://localhost:8201/mcp', ?, NULL, NULL)", [
      `gr_${clientId}`,
      subject,
      clientId,
      long,
    ]);
    db.run("INSERT INTO refresh_tokens (token_hash, grant_id, client_id, expires_at, used_at) VALUES (?, ?, ?, ?, NULL)", [sha256(`rt_${clientId}`), `gr_${clientId}`, clientId, Date.now() + 25 * DAY]);
  }
  db.close();
}

describe("upgrading to per-browser identities (migration 0006)", () => {
  test("old sign-ins keep their identity through refresh; a public client_id no longer reaches it; a confidential client keeps it", async () => {
    using dir = tempDir("parley-upgrade-");
    legacyDataDir(dir.path);
    const srv = await startServer({ dataDir: dir.path });
    try {
      // The refresh token issued before the upgrade still works, for the same identity.
      const refreshed = await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: "rt_cli_legacy_public", client_id: "cli_legacy_public" });
      expect(refreshed.status).toBe(200);
      expect(subOf(((await refreshed.json()) as { access_token: string }).access_token)).toBe("usr_legacy_public");

      // A new sign-in through the public client does not reach the old identity (that was the attack)…
      const stranger = await signInClient(srv.url, "cli_legacy_public");
      expect(subOf(stranger.access_token)).not.toBe("usr_legacy_public");
      // …and a browser that signs in through it keeps its new identity from then on.
      const browser = new CookieJar();
      const first = subOf((await signInClient(srv.url, "cli_legacy_public", { jar: browser })).access_token);
      expect(first).not.toBe("usr_legacy_public");
      expect(subOf((await signInClient(srv.url, "cli_legacy_public", { jar: browser })).access_token)).toBe(first);

      // A confidential client keeps its identity on a new sign-in: only its secret redeems the code.
      const { verifier, challenge } = pkcePair();
      const back = await authorize(srv.url, { response_type: "code", client_id: "cli_legacy_conf", redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: "S256", state: "s" });
      const code = back.searchParams.get("code")!;
      const form = { grant_type: "authorization_code", code, code_verifier: verifier, client_id: "cli_legacy_conf", redirect_uri: REDIRECT_URI };
      const withoutSecret = await tokenRequest(srv.url, form);
      expect(withoutSecret.status).toBe(401);
      const withSecret = await tokenRequest(srv.url, { ...form, client_secret: CONF_SECRET });
      expect(withSecret.status).toBe(200);
      expect(subOf(((await withSecret.json()) as { access_token: string }).access_token)).toBe("usr_legacy_conf");

      // The start-up sweep removed the client that never signed in, and kept the others.
      const clients = () => {
        const ro = new Database(join(dir.path, "parley.db"), { readonly: true });
        try {
          return ro.query<{ client_id: string }, []>("SELECT client_id FROM oauth_clients WHERE client_id LIKE 'cli_legacy%' ORDER BY client_id").all().map((r) => r.client_id);
        } finally {
          ro.close();
        }
      };
      await waitFor("the start-up sweep", () => !clients().includes("cli_legacy_abandoned"), 10_000);
      expect(clients()).toEqual(["cli_legacy_conf", "cli_legacy_public"]);
      // …and the families live before the upgrade (live_until backfilled from their refresh tokens).
      const confRefresh = await tokenRequest(srv.url, { grant_type: "refresh_token", refresh_token: "rt_cli_legacy_conf", client_id: "cli_legacy_conf", client_secret: CONF_SECRET });
      expect(confRefresh.status).toBe(200);
    } finally {
      await srv[Symbol.asyncDispose]();
    }
  }, 30_000);
});
