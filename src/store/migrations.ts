import type { Database } from "bun:sqlite";

/**
 * Schema, applied in order at start-up inside one transaction and recorded in `_migrations`.
 * Never edit a released migration; add a new one.
 *
 * Tables (columns ending in `_hash` hold SHA-256 hex of a secret, never the secret):
 * - channels: id `chn_…`, name, creator (principal), status open|closed, created_at (ISO 8601),
 *   head_hash = the chain's genesis hash (SHA-256 of "parley:genesis:" + channel id); the head is the newest message's hash.
 * - slots: one row per slot `s0, s1, …`; kind invite|bot; invite_hash (outstanding invite code),
 *   holder (principal or NULL), rejoin_hash (holder's rejoin token), admin flag, joined_at.
 * - messages: id is server-wide and strictly increasing; body is JSON text; to_slot NULL = public;
 *   hash = sha256(prev hash, RFC 8785 canonical JSON of the message), so the log is a hash chain.
 * - oauth_clients (RFC 7591): client_id, secret_hash (confidential clients only), metadata JSON,
 *   subject = the user identity this client signs in as (bound at its first authorization).
 * - grants: one per sign-in (kind oauth, a refresh-token family) or per agent token (kind agent);
 *   scope = space-separated server names; revoked_at kills every token of the grant at once.
 * - oauth_codes: code_hash, PKCE challenge, redirect_uri, resource; grant_id set when exchanged
 *   (single use: a replay revokes that grant, RFC 6749 §4.1.2).
 * - refresh_tokens: token_hash, grant_id; used_at set on rotation (reuse revokes the grant).
 * - bots (0004): one per attached bot; code, manifest (JSON) and params (JSON) exactly as hashed
 *   and announced in its bot:attach message; seed (secret until the channel closes, then in the
 *   transcript) and seed_commit = sha256(seed); state = the bot's JSON state after its last hook;
 *   last_seen = the last message id its hooks have processed (catch-up after a crash starts there).
 * - messages.reply_to (0004): the message whose hook produced this bot message, so a replay
 *   knows which outputs each input must reproduce.
 * - slots.lost_by / lost_reason (0003): the principal that last lost the slot and why (rejoin |
 *   kick), so its next call can say what happened instead of a bare NOT_MEMBER.
 * - slots.prev_rejoin_hash (0005): the rejoin token the holder redeemed to get the current one, so
 *   a client whose answer was lost can redeem it again (only while it still holds the slot).
 * - browser_identities (0006): the identity (subject) a browser signed in as through a client;
 *   browser_hash = SHA-256 of the browser's secret cookie. Written at the first code exchange.
 *   oauth_clients.subject became legacy_subject (the per-client identity before 0006, still
 *   inherited by confidential clients); first_grant_at = epoch ms of the client's first code
 *   exchange (NULL: never signed in, deleted after a day); oauth_codes.browser_hash = the browser
 *   that asked for the code; grants.live_until = expiry of the family's newest refresh token
 *   (0 once revoked; the family is deleted when it has passed).
 * - slots.tenure_start (0007): where the seat's current occupancy began: the last message id before
 *   its latest kick (0 if never kicked). A private message of the seat whose position (reply_to for a
 *   bot's answer, else its own id) is not after it belongs to an earlier occupant, so the new one
 *   does not see it. A rejoin token moves the seat within one occupancy and leaves it unchanged.
 * - tool_pins (0008): one row per upstream tool ever seen (server = the upstream's configured name,
 *   tool = the upstream's own tool name). pinned_hash = SHA-256 of pinned_definition, the RFC 8785
 *   canonical JSON of the definition the operator accepts (first seen, or approved since); held_hash /
 *   held_definition / held_at = a different definition the upstream served since, held back until
 *   `parley upstream approve` (NULL: nothing held). These hashes are digests of public definitions,
 *   not of secrets. Rows are kept when a tool disappears, so a tool that comes back changed is held.
 * - audit_log (0008): one row per upstream call, in a hash chain. id counts from 1 with no gaps;
 *   hash = SHA-256(previous row's hash + "\n" + RFC 8785 canonical JSON of the row without `hash`
 *   and without its NULL columns); the first row chains to SHA-256("parley:audit:genesis"). kind
 *   `call`: who (the caller's subject), server, tool, method, ts (when it began), duration_us,
 *   outcome (`ok`, `tool_error` or an error code), arg_bytes and result_bytes: sizes, never values.
 *   kind `prune`: retention deleted every row up to through_id (count of them) in the same
 *   transaction; through_hash = that row's hash, where the remaining chain continues from. kind
 *   `lost`: count calls that could not be written (storage unavailable) before this row.
 */
export const MIGRATIONS: { name: string; sql: string }[] = [
  {
    name: "0001_channels",
    sql: `
      CREATE TABLE channels (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        creator TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open','closed')),
        created_at TEXT NOT NULL,
        head_hash TEXT NOT NULL
      );
      CREATE INDEX channels_creator ON channels(creator);
      CREATE TABLE slots (
        channel_id TEXT NOT NULL REFERENCES channels(id),
        slot_id TEXT NOT NULL,
        label TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('invite','bot')),
        invite_hash TEXT UNIQUE,
        holder TEXT,
        rejoin_hash TEXT UNIQUE,
        admin INTEGER NOT NULL DEFAULT 0,
        joined_at TEXT,
        PRIMARY KEY (channel_id, slot_id)
      );
      CREATE INDEX slots_holder ON slots(holder);
      CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        channel_id TEXT NOT NULL REFERENCES channels(id),
        sender TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('user','bot','system','control')),
        body TEXT NOT NULL,
        ts TEXT NOT NULL,
        to_slot TEXT,
        hash TEXT NOT NULL
      );
      CREATE INDEX messages_channel ON messages(channel_id, id);
    `,
  },
  {
    name: "0002_oauth",
    sql: `
      CREATE TABLE oauth_clients (
        client_id TEXT PRIMARY KEY,
        secret_hash TEXT,
        metadata TEXT NOT NULL,
        subject TEXT,
        created_at TEXT NOT NULL
      );
      CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('oauth','agent')),
        subject TEXT NOT NULL,
        client_id TEXT,
        name TEXT,
        scope TEXT NOT NULL,
        resource TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at INTEGER,
        revoked_at TEXT
      );
      CREATE TABLE oauth_codes (
        code_hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        code_challenge TEXT NOT NULL,
        resource TEXT NOT NULL,
        scope TEXT NOT NULL,
        subject TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        grant_id TEXT
      );
      CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        grant_id TEXT NOT NULL REFERENCES grants(id),
        client_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      );
      CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);
    `,
  },
  {
    name: "0003_slot_lost_by",
    sql: `
      ALTER TABLE slots ADD COLUMN lost_by TEXT;
      ALTER TABLE slots ADD COLUMN lost_reason TEXT CHECK (lost_reason IN ('rejoin','kick'));
    `,
  },
  {
    name: "0004_bots",
    sql: `
      CREATE TABLE bots (
        bot_id TEXT PRIMARY KEY,
        channel_id TEXT NOT NULL REFERENCES channels(id),
        slot_id TEXT,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        code TEXT NOT NULL,
        manifest TEXT NOT NULL,
        params TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        manifest_hash TEXT NOT NULL,
        seed TEXT NOT NULL,
        seed_commit TEXT NOT NULL,
        engine TEXT NOT NULL,
        state TEXT NOT NULL,
        last_seen INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
      );
      CREATE INDEX bots_channel ON bots(channel_id);
      ALTER TABLE messages ADD COLUMN reply_to INTEGER;
    `,
  },
  {
    name: "0005_prev_rejoin_hash",
    sql: `
      ALTER TABLE slots ADD COLUMN prev_rejoin_hash TEXT;
      CREATE INDEX slots_prev_rejoin ON slots(prev_rejoin_hash);
    `,
  },
  {
    name: "0006_oauth_browser_identity",
    sql: `
      ALTER TABLE oauth_clients RENAME COLUMN subject TO legacy_subject;
      ALTER TABLE oauth_clients ADD COLUMN first_grant_at INTEGER;
      UPDATE oauth_clients SET first_grant_at = 0
        WHERE legacy_subject IS NOT NULL OR client_id IN (SELECT client_id FROM grants WHERE client_id IS NOT NULL);
      CREATE INDEX oauth_clients_pending ON oauth_clients(created_at) WHERE first_grant_at IS NULL;
      CREATE TABLE browser_identities (
        browser_hash TEXT NOT NULL,
        client_id TEXT NOT NULL REFERENCES oauth_clients(client_id),
        subject TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (browser_hash, client_id)
      );
      ALTER TABLE oauth_codes ADD COLUMN browser_hash TEXT;
      CREATE INDEX oauth_codes_expires ON oauth_codes(expires_at);
      ALTER TABLE grants ADD COLUMN live_until INTEGER;
      UPDATE grants SET live_until = CASE WHEN revoked_at IS NOT NULL THEN 0
        ELSE (SELECT MAX(expires_at) FROM refresh_tokens r WHERE r.grant_id = grants.id) END
        WHERE kind = 'oauth';
      CREATE INDEX grants_live_until ON grants(live_until) WHERE kind = 'oauth';
      CREATE INDEX refresh_tokens_used ON refresh_tokens(used_at) WHERE used_at IS NOT NULL;
    `,
  },
  {
    name: "0007_seat_tenure",
    // Existing seats that were kicked start their occupancy at their latest slot:kick message.
    sql: `
      ALTER TABLE slots ADD COLUMN tenure_start INTEGER NOT NULL DEFAULT 0;
      UPDATE slots SET tenure_start = COALESCE((
        SELECT MAX(m.id) FROM messages m
        WHERE m.channel_id = slots.channel_id AND m.sender = 'system'
          AND json_extract(m.body, '$.type') = 'slot:kick' AND json_extract(m.body, '$.slot_id') = slots.slot_id
      ), 0);
    `,
  },
  {
    name: "0008_gateway_pins_audit",
    sql: `
      CREATE TABLE tool_pins (
        server TEXT NOT NULL,
        tool TEXT NOT NULL,
        pinned_hash TEXT NOT NULL,
        pinned_definition TEXT NOT NULL,
        pinned_at TEXT NOT NULL,
        held_hash TEXT,
        held_definition TEXT,
        held_at TEXT,
        PRIMARY KEY (server, tool)
      ) WITHOUT ROWID;
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        who TEXT,
        server TEXT,
        tool TEXT,
        method TEXT,
        duration_us INTEGER,
        outcome TEXT,
        arg_bytes INTEGER,
        result_bytes INTEGER,
        through_id INTEGER,
        through_hash TEXT,
        count INTEGER,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_log_ts ON audit_log(ts);
      CREATE INDEX audit_log_who ON audit_log(who, id) WHERE who IS NOT NULL;
      CREATE INDEX audit_log_prune ON audit_log(id) WHERE kind = 'prune';
    `,
  },
];

/**
 * Applies the pending migrations in one transaction; returns their names. What is pending is read
 * inside that transaction, which takes the write lock at its BEGIN (IMMEDIATE): read before it,
 * two processes starting on one file both saw a migration pending and the second applied it again
 * (`table … already exists`).
 */
export function migrate(db: Database): string[] {
  return db
    .transaction(() => {
      db.run("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
      const done = new Set(db.query<{ name: string }, []>("SELECT name FROM _migrations").all().map((r) => r.name));
      const pending = MIGRATIONS.filter((m) => !done.has(m.name));
      for (const m of pending) {
        db.run(m.sql);
        db.run("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [m.name, new Date().toISOString()]);
      }
      return pending.map((m) => m.name);
    })
    .immediate();
}
