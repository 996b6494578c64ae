import type { Database } from "bun:sqlite";
import type { ChannelRecord } from "./types.ts";
import { guardStorage } from "./storage-errors.ts";

/** A channel as `parley channels list` shows it. */
export interface ChannelSummary extends ChannelRecord {
  /** Invite seats, and how many of them are held. */
  seats: number;
  filled: number;
  bots: number;
  last_message_id: number | null;
  last_message_at: string | null;
}

/** A signed-in OAuth client and its sign-ins (refresh families), as `parley clients list` shows it. */
export interface ClientSummary {
  client_id: string;
  client_name: string | null;
  redirect_uris: string[];
  created_at: string;
  /** Epoch ms of its first sign-in. */
  first_grant_at: number | null;
  grants: { id: string; subject: string; created_at: string; state: "active" | "revoked" | "expired" }[];
}

/**
 * Reads for the operator commands, on the same database the server writes (WAL: readers never
 * block it). Whole-table reads are fine here: one operator, one command at a time.
 */
export class OperatorQueries {
  constructor(private readonly db: Database) {}

  private sql<T>(fn: () => T): T {
    return guardStorage(this.db.filename, fn);
  }

  channels(): ChannelSummary[] {
    return this.sql(() =>
      this.db
        .query<ChannelSummary, []>(
          `SELECT c.id, c.name, c.creator, c.status, c.created_at,
             (SELECT COUNT(*) FROM slots s WHERE s.channel_id = c.id AND s.kind = 'invite') AS seats,
             (SELECT COUNT(*) FROM slots s WHERE s.channel_id = c.id AND s.kind = 'invite' AND s.holder IS NOT NULL) AS filled,
             (SELECT COUNT(*) FROM bots b WHERE b.channel_id = c.id) AS bots,
             (SELECT MAX(id) FROM messages m WHERE m.channel_id = c.id) AS last_message_id,
             (SELECT ts FROM messages m WHERE m.channel_id = c.id ORDER BY id DESC LIMIT 1) AS last_message_at
           FROM channels c ORDER BY c.created_at DESC, c.id`,
        )
        .all(),
    );
  }

  /** Clients that have signed in (a client never signed in is deleted after a day), oldest first. */
  clients(now = Date.now()): ClientSummary[] {
    return this.sql(() => {
      const grants = this.db
        .query<{ id: string; client_id: string; subject: string; created_at: string; revoked_at: string | null; live_until: number | null }, []>(
          "SELECT id, client_id, subject, created_at, revoked_at, live_until FROM grants WHERE kind = 'oauth' ORDER BY created_at, id",
        )
        .all();
      const clients = this.db
        .query<{ client_id: string; metadata: string; created_at: string; first_grant_at: number | null }, []>(
          "SELECT client_id, metadata, created_at, first_grant_at FROM oauth_clients WHERE first_grant_at IS NOT NULL OR legacy_subject IS NOT NULL ORDER BY created_at, client_id",
        )
        .all();
      return clients.map((c) => {
        const metadata = JSON.parse(c.metadata) as { client_name?: string; redirect_uris: string[] };
        return {
          client_id: c.client_id,
          client_name: metadata.client_name ?? null,
          redirect_uris: metadata.redirect_uris,
          created_at: c.created_at,
          first_grant_at: c.first_grant_at,
          grants: grants
            .filter((g) => g.client_id === c.client_id)
            .map((g) => ({
              id: g.id,
              subject: g.subject,
              created_at: g.created_at,
              state: g.revoked_at !== null ? "revoked" : g.live_until !== null && g.live_until < now ? "expired" : "active",
            })),
        };
      });
    });
  }

  /**
   * A consistent copy of the whole database in `file` (which must not exist), taken inside one read
   * transaction: with WAL, the server keeps writing meanwhile and the copy is the database as of
   * the moment it began. https://sqlite.org/lang_vacuum.html#vacuuminto
   */
  backup(file: string): void {
    this.sql(() => this.db.query("VACUUM INTO ?").run(file));
  }
}
