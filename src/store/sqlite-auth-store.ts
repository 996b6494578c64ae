import type { Database, Statement } from "bun:sqlite";
import type { AuthStore, ClientRecord, CodeRecord, GrantRecord, RefreshRecord, SweepCounts, SweepCutoffs } from "./auth-types.ts";
import { ReadBatch } from "./read-batch.ts";
import { guardStorage } from "./storage-errors.ts";

type ClientRow = Omit<ClientRecord, "metadata"> & { metadata: string };

/** SQL for the OAuth server and agent tokens, on the same database as the channels. */
export class SqliteAuthStore implements AuthStore {
  private readonly q: ReturnType<typeof prepare>;
  /** Every /mcp request reads its token's grant (revocation takes effect at once): batched per turn. */
  private readonly grants: ReadBatch<string, GrantRecord | null>;

  constructor(private readonly db: Database) {
    this.q = prepare(db);
    this.grants = new ReadBatch(db, (id) => this.q.getGrant.get(id) ?? null);
  }

  /** Each statement runs on its own (autocommit); a storage failure becomes STORAGE_UNAVAILABLE. */
  private sql<T>(fn: () => T): T {
    return guardStorage(this.db.filename, fn);
  }

  async createClient(c: ClientRecord): Promise<void> {
    this.sql(() => this.q.insertClient.run(c.client_id, c.secret_hash, JSON.stringify(c.metadata), c.legacy_subject, c.created_at, c.first_grant_at));
  }

  async getClient(clientId: string): Promise<ClientRecord | null> {
    const row = this.sql(() => this.q.getClient.get(clientId));
    return row ? { ...row, metadata: JSON.parse(row.metadata) } : null;
  }

  async findBrowserSubject(browserHash: string, clientId: string): Promise<string | null> {
    return this.sql(() => this.q.getIdentity.get(browserHash, clientId))?.subject ?? null;
  }

  async bindBrowserSubject(browserHash: string | null, clientId: string, subject: string, at: number): Promise<string> {
    return this.sql(() =>
      this.db.transaction(() => {
        this.q.markSignedIn.run(at, clientId);
        if (browserHash === null) return subject;
        this.q.insertIdentity.run(browserHash, clientId, subject, new Date(at).toISOString());
        return this.q.getIdentity.get(browserHash, clientId)!.subject;
      })(),
    );
  }

  async saveCode(c: CodeRecord): Promise<void> {
    this.sql(() => this.q.insertCode.run(c.code_hash, c.client_id, c.redirect_uri, c.code_challenge, c.resource, c.scope, c.subject, c.expires_at, c.grant_id, c.browser_hash));
  }

  async getCode(codeHash: string): Promise<CodeRecord | null> {
    return this.sql(() => this.q.getCode.get(codeHash)) ?? null;
  }

  async redeemCode(codeHash: string, grantId: string): Promise<boolean> {
    return this.sql(() => this.q.redeemCode.run(grantId, codeHash)).changes === 1;
  }

  async createGrant(g: GrantRecord): Promise<void> {
    this.sql(() => this.q.insertGrant.run(g.id, g.kind, g.subject, g.client_id, g.name, g.scope, g.resource, g.created_at, g.expires_at, g.revoked_at));
  }

  getGrant(id: string): Promise<GrantRecord | null> {
    return this.grants.get(id);
  }

  async revokeGrant(id: string): Promise<boolean> {
    return this.sql(() => this.q.revokeGrant.run(new Date().toISOString(), id)).changes === 1;
  }

  async listGrants(kind: GrantRecord["kind"]): Promise<GrantRecord[]> {
    return this.sql(() => this.q.listGrants.all(kind));
  }

  async saveRefresh(r: RefreshRecord): Promise<void> {
    this.sql(() =>
      this.db.transaction(() => {
        this.q.insertRefresh.run(r.token_hash, r.grant_id, r.client_id, r.expires_at, r.used_at);
        this.q.extendFamily.run(r.expires_at, r.grant_id);
      })(),
    );
  }

  async getRefresh(tokenHash: string): Promise<RefreshRecord | null> {
    return this.sql(() => this.q.getRefresh.get(tokenHash)) ?? null;
  }

  async useRefresh(tokenHash: string, at: number): Promise<boolean> {
    return this.sql(() => this.q.useRefresh.run(at, tokenHash)).changes === 1;
  }

  /**
   * Each DELETE finds its rows through an index (migration 0006) and stops at `limit` rows, so a
   * step's cost follows `limit`, not the table sizes; a dead family's tokens share one budget.
   */
  async sweep(c: SweepCutoffs, limit: number): Promise<SweepCounts> {
    return this.sql(() => this.db.transaction(() => {
      const codes = this.q.sweepCodes.run(c.unusedCodes, c.usedCodes, limit).changes;
      const clients = this.q.sweepClients.run(new Date(c.pendingClients).toISOString(), limit).changes;
      const rotated = this.q.sweepRotated.run(c.rotatedRefresh, limit).changes;
      const dead = this.q.deadFamilies.all(c.deadFamilies, limit);
      let budget = limit;
      let families = 0;
      let more = codes === limit || clients === limit || rotated === limit || dead.length === limit;
      for (const { id } of dead) {
        const deleted = this.q.deleteFamilyTokens.run(id, budget).changes;
        if (deleted === budget) {
          more = true;
          break;
        }
        budget -= deleted;
        this.q.deleteGrant.run(id);
        families++;
      }
      return { codes, clients, families, rotated, more };
    })());
  }
}

function prepare(db: Database) {
  return {
    insertClient: db.prepare("INSERT INTO oauth_clients (client_id, secret_hash, metadata, legacy_subject, created_at, first_grant_at) VALUES (?, ?, ?, ?, ?, ?)"),
    getClient: db.prepare("SELECT * FROM oauth_clients WHERE client_id = ?") as Statement<ClientRow, [string]>,
    markSignedIn: db.prepare("UPDATE oauth_clients SET first_grant_at = ? WHERE client_id = ? AND first_grant_at IS NULL"),
    getIdentity: db.prepare("SELECT subject FROM browser_identities WHERE browser_hash = ? AND client_id = ?") as Statement<{ subject: string }, [string, string]>,
    insertIdentity: db.prepare("INSERT OR IGNORE INTO browser_identities (browser_hash, client_id, subject, created_at) VALUES (?, ?, ?, ?)"),
    insertCode: db.prepare(
      "INSERT INTO oauth_codes (code_hash, client_id, redirect_uri, code_challenge, resource, scope, subject, expires_at, grant_id, browser_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    getCode: db.prepare("SELECT * FROM oauth_codes WHERE code_hash = ?") as Statement<CodeRecord, [string]>,
    redeemCode: db.prepare("UPDATE oauth_codes SET grant_id = ? WHERE code_hash = ? AND grant_id IS NULL"),
    insertGrant: db.prepare(
      "INSERT INTO grants (id, kind, subject, client_id, name, scope, resource, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    getGrant: db.prepare("SELECT * FROM grants WHERE id = ?") as Statement<GrantRecord, [string]>,
    // A revoked OAuth family is dead at once (live_until 0); agent grants stay listed as REVOKED.
    revokeGrant: db.prepare("UPDATE grants SET revoked_at = ?, live_until = CASE kind WHEN 'oauth' THEN 0 ELSE live_until END WHERE id = ? AND revoked_at IS NULL"),
    listGrants: db.prepare("SELECT * FROM grants WHERE kind = ? ORDER BY created_at, id") as Statement<GrantRecord, [string]>,
    insertRefresh: db.prepare("INSERT INTO refresh_tokens (token_hash, grant_id, client_id, expires_at, used_at) VALUES (?, ?, ?, ?, ?)"),
    getRefresh: db.prepare("SELECT * FROM refresh_tokens WHERE token_hash = ?") as Statement<RefreshRecord, [string]>,
    useRefresh: db.prepare("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"),
    extendFamily: db.prepare("UPDATE grants SET live_until = max(coalesce(live_until, 0), ?) WHERE id = ? AND revoked_at IS NULL"),
    sweepCodes: db.prepare(
      "DELETE FROM oauth_codes WHERE rowid IN (SELECT rowid FROM oauth_codes WHERE expires_at < ?1 AND (grant_id IS NULL OR expires_at < ?2) LIMIT ?3)",
    ),
    sweepClients: db.prepare("DELETE FROM oauth_clients WHERE rowid IN (SELECT rowid FROM oauth_clients WHERE first_grant_at IS NULL AND created_at < ? LIMIT ?)"),
    deadFamilies: db.prepare("SELECT id FROM grants WHERE kind = 'oauth' AND live_until < ? LIMIT ?") as Statement<{ id: string }, [number, number]>,
    deleteFamilyTokens: db.prepare("DELETE FROM refresh_tokens WHERE rowid IN (SELECT rowid FROM refresh_tokens WHERE grant_id = ? LIMIT ?)"),
    deleteGrant: db.prepare("DELETE FROM grants WHERE id = ?"),
    sweepRotated: db.prepare("DELETE FROM refresh_tokens WHERE rowid IN (SELECT rowid FROM refresh_tokens WHERE used_at < ? LIMIT ?)"),
  };
}
