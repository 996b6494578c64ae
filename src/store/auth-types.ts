/** Records of the OAuth server and agent tokens (tables documented in migrations.ts). */
export interface ClientRecord {
  client_id: string;
  secret_hash: string | null;
  /** RFC 7591 metadata as registered (redirect_uris, client_name, token_endpoint_auth_method, …). */
  metadata: Record<string, unknown> & { redirect_uris: string[] };
  /**
   * The one identity a client registered before 0006 signed in as (then bound per client). New
   * clients have none: identities are bound per browser and client (browser_identities).
   */
  legacy_subject: string | null;
  created_at: string;
  /** Epoch ms of its first code exchange; null while it has never signed in (swept after a day). */
  first_grant_at: number | null;
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
  /** SHA-256 of the signing-in browser's secret; the exchange binds it to `subject`. */
  browser_hash: string | null;
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
  /** The identity a browser signed in as through a client, if it has. */
  findBrowserSubject(browserHash: string, clientId: string): Promise<string | null>;
  /**
   * Records a client's sign-in at its code exchange: binds the browser (if known) to `subject`
   * unless it is bound already, and marks the client as signed in. Returns the bound subject
   * (the first binding wins, so concurrent sign-ins of one browser agree).
   */
  bindBrowserSubject(browserHash: string | null, clientId: string, subject: string, at: number): Promise<string>;
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
  /** One bounded step of expiry: at most `limit` rows (or families) of each kind. */
  sweep(cutoffs: SweepCutoffs, limit: number): Promise<SweepCounts>;
}

/** Epoch ms before which each kind of row is dead (the policy lives in auth/sweeper.ts). */
export interface SweepCutoffs {
  /** Codes never exchanged that expired before this. */
  unusedCodes: number;
  /** Exchanged codes that expired before this (kept a while so a replay still revokes its grant). */
  usedCodes: number;
  /** Clients never signed in, registered before this. */
  pendingClients: number;
  /** OAuth grants (refresh families) revoked, or whose last refresh token expired before this. */
  deadFamilies: number;
  /** Refresh tokens rotated away before this. */
  rotatedRefresh: number;
}

export interface SweepCounts {
  codes: number;
  clients: number;
  families: number;
  rotated: number;
  /** A limit was reached: another step may find more. */
  more: boolean;
}
