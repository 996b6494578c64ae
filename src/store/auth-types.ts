/** Records of the OAuth server and agent tokens (tables documented in migrations.ts). */
export interface ClientRecord {
  client_id: string;
  secret_hash: string | null;
  /** RFC 7591 metadata as registered (redirect_uris, client_name, token_endpoint_auth_method, …). */
  metadata: Record<string, unknown> & { redirect_uris: string[] };
  subject: string | null;
  created_at: string;
}

export interface GrantRecord {
  id: string;
  kind: "oauth" | "agent";
  subject: string;
  client_id: string | null;
  /** Agent name for agent tokens. */
  name: string | null;
  scope: string;
  resource: string;
  created_at: string;
  /** Epoch ms; null = no expiry (refresh families expire per token). */
  expires_at: number | null;
  revoked_at: string | null;
}

export interface CodeRecord {
  code_hash: string;
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  resource: string;
  scope: string;
  subject: string;
  expires_at: number;
  grant_id: string | null;
}

export interface RefreshRecord {
  token_hash: string;
  grant_id: string;
  client_id: string;
  expires_at: number;
  used_at: number | null;
}

export interface AuthStore {
  createClient(client: ClientRecord): Promise<void>;
  getClient(clientId: string): Promise<ClientRecord | null>;
  /** Binds a subject to a client once; returns the subject now bound (the first one wins). */
  bindClientSubject(clientId: string, subject: string): Promise<string>;
  saveCode(code: CodeRecord): Promise<void>;
  getCode(codeHash: string): Promise<CodeRecord | null>;
  /** Marks a code exchanged for grant; false if it was already exchanged (replay). */
  redeemCode(codeHash: string, grantId: string): Promise<boolean>;
  createGrant(grant: GrantRecord): Promise<void>;
  getGrant(id: string): Promise<GrantRecord | null>;
  revokeGrant(id: string): Promise<boolean>;
  listGrants(kind: GrantRecord["kind"]): Promise<GrantRecord[]>;
  saveRefresh(token: RefreshRecord): Promise<void>;
  getRefresh(tokenHash: string): Promise<RefreshRecord | null>;
  /** Marks a refresh token used; false if it was already used (reuse). */
  useRefresh(tokenHash: string, at: number): Promise<boolean>;
}
