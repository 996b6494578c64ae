import type { Database, Statement } from "bun:sqlite";
import type { AuthStore, ClientRecord, CodeRecord, GrantRecord, RefreshRecord } from "./auth-types.ts";
import { ReadBatch } from "./read-batch.ts";
import { storageFailure } from "./storage-errors.ts";

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
    try {
      return fn();
    } catch (err) {
      throw storageFailure(err, this.db.filename);
    }
  }

  async createClient(c: ClientRecord): Promise<void> {
    this.sql(() => this.q.insertClient.run(c.client_id, c.secret_hash, JSON.stringify(c.metadata), c.subject, c.created_at));
  }

  async getClient(clientId: string): Promise<ClientRecord | null> {
    const row = this.sql(() => this.q.getClient.get(clientId));
    return row ? { ...row, metadata: JSON.parse(row.metadata) } : null;
  }

  async bindClientSubject(clientId: string, subject: string): Promise<string> {
    return this.sql(() => {
      this.q.bindSubject.run(subject, clientId);
      return this.q.getClient.get(clientId)!.subject!;
    });
  }

  async saveCode(c: CodeRecord): Promise<void> {
    this.sql(() => this.q.insertCode.run(c.code_hash, c.client_id, c.redirect_uri, c.code_challenge, c.resource, c.scope, c.subject, c.expires_at, c.grant_id));
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
    this.sql(() => this.q.insertRefresh.run(r.token_hash, r.grant_id, r.client_id, r.expires_at, r.used_at));
  }

  async getRefresh(tokenHash: string): Promise<RefreshRecord | null> {
    return this.sql(() => this.q.getRefresh.get(tokenHash)) ?? null;
  }

  async useRefresh(tokenHash: string, at: number): Promise<boolean> {
    return this.sql(() => this.q.useRefresh.run(at, tokenHash)).changes === 1;
  }
}

function prepare(db: Database) {
  return {
    insertClient: db.prepare("INSERT INTO oauth_clients (client_id, secret_hash, metadata, subject, created_at) VALUES (?, ?, ?, ?, ?)"),
    getClient: db.prepare("SELECT * FROM oauth_clients WHERE client_id = ?") as Statement<ClientRow, [string]>,
    bindSubject: db.prepare("UPDATE oauth_clients SET subject = ? WHERE client_id = ? AND subject IS NULL"),
    insertCode: db.prepare(
      "INSERT INTO oauth_codes (code_hash, client_id, redirect_uri, code_challenge, resource, scope, subject, expires_at, grant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    getCode: db.prepare("SELECT * FROM oauth_codes WHERE code_hash = ?") as Statement<CodeRecord, [string]>,
    redeemCode: db.prepare("UPDATE oauth_codes SET grant_id = ? WHERE code_hash = ? AND grant_id IS NULL"),
    insertGrant: db.prepare(
      "INSERT INTO grants (id, kind, subject, client_id, name, scope, resource, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    getGrant: db.prepare("SELECT * FROM grants WHERE id = ?") as Statement<GrantRecord, [string]>,
    revokeGrant: db.prepare("UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
    listGrants: db.prepare("SELECT * FROM grants WHERE kind = ? ORDER BY created_at, id") as Statement<GrantRecord, [string]>,
    insertRefresh: db.prepare("INSERT INTO refresh_tokens (token_hash, grant_id, client_id, expires_at, used_at) VALUES (?, ?, ?, ?, ?)"),
    getRefresh: db.prepare("SELECT * FROM refresh_tokens WHERE token_hash = ?") as Statement<RefreshRecord, [string]>,
    useRefresh: db.prepare("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"),
  };
}
