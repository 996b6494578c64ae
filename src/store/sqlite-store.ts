import type { Database, Statement } from "bun:sqlite";
import { resolve } from "node:path";
import { openDatabase } from "./db.ts";
import { GroupCommit } from "./group-commit.ts";
import { migrate } from "./migrations.ts";
import { guardStorage, openFailure, storageFailure, storageRecovered } from "./storage-errors.ts";
import {
  StoreConflict,
  type Change,
  type BotRecord,
  type ChannelRecord,
  type Message,
  type MessageDraft,
  type MessageQuery,
  type MessageRead,
  type NewChannel,
  type Sealer,
  type SlotRecord,
  type Store,
} from "./types.ts";

type SlotRow = Omit<SlotRecord, "admin"> & { admin: number };
type MessageRow = Omit<Message, "body" | "reply_to"> & { body: string; reply_to: number | null };
type BotRow = Omit<BotRecord, "manifest" | "params"> & { manifest: string; params: string };

const SLOT_COLUMNS = ["invite_hash", "holder", "rejoin_hash", "prev_rejoin_hash", "admin", "joined_at", "lost_by", "lost_reason"] as const;

/** Channels whose record and slots stay in memory; every post reads them to check membership. */
const CACHED_CHANNELS = 10_000;

interface CachedChannel {
  channel: ChannelRecord;
  slots: SlotRecord[];
  /** Loaded on first use. */
  bots?: BotRecord[];
  /**
   * The chain head (newest message's hash), once read or written: saves a query per post. It
   * moves inside the write transaction; a write that fails drops the entry, a failed COMMIT all.
   */
  head?: string;
}

export class SqliteStore implements Store {
  readonly db: Database;
  /** Message ids are assigned here (single writer), so the chain hash can cover the id. */
  private lastMessageId: number;
  private readonly q: ReturnType<typeof prepare>;
  private readonly writes: GroupCommit;
  /**
   * Read-through cache of channel records, slots and bots. This process is the only writer, so it
   * is exact: every write goes through `writes`, which drops the entries a commit made stale
   * (appending messages leaves an entry exact; any other change does not).
   */
  private readonly cache = new Map<string, CachedChannel>();
  /** Channels a write of the batch being committed has changed (their cache entry is stale). */
  private readonly dirtyInBatch = new Set<string>();

  /** Opens and checks the database; a storage problem throws STORAGE_UNAVAILABLE with one line naming the file. */
  constructor(dataDir: string, options: { create?: boolean } = {}) {
    let db: Database | undefined;
    try {
      db = openDatabase(dataDir, options);
      migrate(db);
      this.lastMessageId = db.query<{ m: number | null }, []>("SELECT MAX(id) AS m FROM messages").get()?.m ?? 0;
    } catch (err) {
      db?.close();
      throw openFailure(err, resolve(dataDir, "parley.db"));
    }
    this.db = db;
    this.q = prepare(this.db);
    this.writes = new GroupCommit(this.db, (stale) => {
      this.dirtyInBatch.clear();
      if (stale === null) this.cache.clear();
      else for (const id of stale) this.cache.delete(id);
    });
  }

  /** Runs a read; a storage failure (corrupt page, I/O error) becomes STORAGE_UNAVAILABLE. */
  private read<T>(fn: () => T): T {
    return guardStorage(this.db.filename, fn);
  }

  async createChannel(input: NewChannel, messages: MessageDraft[], seal: Sealer): Promise<Message[]> {
    return this.writes.run(() => {
      const c = input.channel;
      this.q.insertChannel.run(c.id, c.name, c.creator, c.status, c.created_at, input.genesisHash);
      for (const s of input.slots) {
        this.q.insertSlot.run(c.id, s.slot_id, s.label, s.kind, s.invite_hash, s.holder, s.rejoin_hash, s.admin ? 1 : 0, s.joined_at);
      }
      return this.appendLocked(c.id, input.genesisHash, messages, seal);
    }, input.channel.id, true);
  }

  async discardChannel(id: string): Promise<void> {
    // Its message ids are not given again in this process (lastMessageId only grows); after a restart
    // they may be, harmlessly: nobody saw them, and every channel's ids still only grow.
    await this.writes.run(() => {
      for (const remove of this.q.discard) remove.run(id);
    }, id, true);
  }

  async getChannel(id: string): Promise<ChannelRecord | null> {
    return this.cached(id)?.channel ?? null;
  }

  async getSlots(channelId: string): Promise<SlotRecord[]> {
    return this.cached(channelId)?.slots ?? [];
  }

  /** Channel and slots, frozen so no caller can change the cached copy. */
  private cached(id: string): CachedChannel | null {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const channel = this.read(() => this.q.getChannel.get(id));
    if (!channel) return null;
    const slots = this.read(() => this.q.getSlots.all(id))
      .map((row) => Object.freeze(toSlot(row)))
      .sort((a, b) => Number(a.slot_id.slice(1)) - Number(b.slot_id.slice(1)));
    const entry: CachedChannel = { channel: Object.freeze(channel), slots: Object.freeze(slots) as SlotRecord[] };
    if (this.cache.size >= CACHED_CHANNELS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, entry);
    return entry;
  }

  async findSlotByInviteHash(hash: string): Promise<SlotRecord | null> {
    const row = this.read(() => this.q.slotByInvite.get(hash));
    return row ? toSlot(row) : null;
  }

  async findSlotByRejoinHash(hash: string): Promise<SlotRecord | null> {
    const row = this.read(() => this.q.slotByRejoin.get(hash) ?? this.q.slotByPrevRejoin.get(hash));
    return row ? toSlot(row) : null;
  }

  async apply(channelId: string, changes: Change[], messages: MessageDraft[], seal: Sealer): Promise<Message[]> {
    // A bot's state moves its cached record in place (below); it leaves channel and slots exact.
    const structural = changes.some((c) => c.type !== "require" && c.type !== "bot_state");
    return this.writes.run(() => {
      if (structural) this.dirtyInBatch.add(channelId);
      for (const change of changes) {
        if (change.type === "require") {
          this.checkRequirement(channelId, change);
          continue;
        }
        if (change.type === "bot") {
          const b = change.insert;
          // A bot starts at its own bot:attach (appended after this): what came before is not its to answer.
          const lastSeen = Math.max(b.last_seen, this.lastMessageId);
          this.q.insertBot.run(b.bot_id, channelId, b.slot_id, b.name, b.version, b.code, JSON.stringify(b.manifest), JSON.stringify(b.params), b.code_hash, b.manifest_hash, b.seed, b.seed_commit, b.engine, b.state, lastSeen, b.created_at);
          continue;
        }
        if (change.type === "bot_state") {
          this.q.setBotState.run(change.state, change.last_seen, change.bot_id);
          // Like the head: moved inside the transaction; a failed write drops the entry, a failed COMMIT all.
          const entry = this.cache.get(channelId);
          if (entry?.bots) {
            const moved = { state: change.state, last_seen: change.last_seen };
            entry.bots = entry.bots.map((b) => (b.bot_id === change.bot_id ? Object.freeze({ ...b, ...moved }) : b));
          }
          continue;
        }
        if (change.type === "channel") {
          const { name, status } = change.set;
          this.q.updateChannel.run(name ?? null, status ?? null, channelId);
          continue;
        }
        const entries: string[] = SLOT_COLUMNS.filter((k) => k in change.set);
        const values: (string | number | null)[] = SLOT_COLUMNS.filter((k) => k in change.set).map((k) => {
          const v = change.set[k];
          return typeof v === "boolean" ? (v ? 1 : 0) : (v ?? null);
        });
        // Ids are assigned here in order, so every message of this channel from now on comes after it.
        if (change.newTenure) {
          entries.push("tenure_start");
          values.push(this.lastMessageId);
        }
        if (entries.length === 0) continue;
        const sets = entries.map((k) => `${k} = ?`).join(", ");
        let sql = `UPDATE slots SET ${sets} WHERE channel_id = ? AND slot_id = ?`;
        const params: (string | number | null)[] = [...values, channelId, change.slot_id];
        if (change.expectHolder !== undefined) {
          sql += " AND holder IS ?";
          params.push(change.expectHolder);
        }
        const res = this.db.query(sql).run(...params);
        if (res.changes !== 1) throw new StoreConflict("slot_changed", change.slot_id);
      }
      if (messages.length === 0) return [];
      const entry = this.cache.get(channelId);
      const written = this.appendLocked(channelId, entry?.head ?? this.readHead(channelId), messages, seal);
      if (entry) entry.head = written.at(-1)!.hash;
      return written;
    }, channelId, structural);
  }

  async listMessages(channelId: string, query: MessageQuery): Promise<Message[]> {
    return (await this.readMessages(channelId, query)).messages;
  }

  async readMessages(channelId: string, { after, slotId, tenureStart, limit, maxBytes = Infinity }: MessageQuery): Promise<MessageRead> {
    return this.read(() => {
      const rows = slotId === "*" ? this.q.listAllMessages.iterate(channelId, after, limit) : this.q.listMessages.iterate(channelId, after, slotId, tenureStart ?? 0, limit);
      const messages: Message[] = [];
      let bytes = 0;
      for (const row of rows) {
        messages.push(toMessage(row));
        // Rows past the byte budget are never read, let alone parsed (as costly as all of them).
        if ((bytes += row.body.length) > maxBytes) return { messages, cut: messages.length < limit };
      }
      return { messages, cut: false };
    });
  }

  async lastMessage(channelId: string): Promise<{ id: number; hash: string } | null> {
    return this.read(() => this.q.lastMessage.get(channelId)) ?? null;
  }

  async countMessages(channelId: string, lastId: number): Promise<number> {
    return this.read(() => this.q.countMessages.get(channelId, lastId)?.n ?? 0);
  }

  async getBots(channelId: string): Promise<BotRecord[]> {
    const entry = this.cached(channelId);
    if (!entry) return [];
    entry.bots ??= this.read(() => this.q.getBots.all(channelId)).map((r) => Object.freeze({ ...r, manifest: JSON.parse(r.manifest), params: JSON.parse(r.params) }));
    return entry.bots;
  }

  async openBotChannels(): Promise<string[]> {
    return this.read(() => this.q.openBotChannels.all()).map((r) => r.channel_id);
  }

  async listChannelsOf(principal: string): Promise<ChannelRecord[]> {
    return this.read(() => this.q.channelsOf.all(principal, principal));
  }

  /**
   * The write /healthz asks of the store, answered between batches on the writers' connection: the
   * database header written back unchanged (`PRAGMA user_version`: one WAL frame and a COMMIT, the
   * cheapest write there is), and room for one more page (a free one, or below SQLite's page limit:
   * the header fits in its own page, a message may not). Throws STORAGE_UNAVAILABLE, logged once
   * per episode like any write's, when either fails.
   */
  probeWrite(): void {
    try {
      // As in GroupCommit.flush: inside a transaction left open, this write would not commit.
      if (this.db.inTransaction) this.db.run("ROLLBACK");
      const { user_version } = this.db.query<{ user_version: number }, []>("PRAGMA user_version").get()!;
      this.db.run(`PRAGMA user_version = ${user_version}`);
      const { room } = this.db.query<{ room: number }, []>("SELECT page_count < max_page_count OR freelist_count > 0 AS room FROM pragma_page_count, pragma_max_page_count, pragma_freelist_count").get()!;
      if (!room) throw Object.assign(new Error("database or disk is full: no free page and none more allowed (max_page_count)"), { code: "SQLITE_FULL" });
    } catch (err) {
      throw storageFailure(err, this.db.filename);
    }
    storageRecovered();
  }

  close(): void {
    this.db.close();
  }

  private checkRequirement(channelId: string, req: Extract<Change, { type: "require" }>): void {
    // The cache holds the state as of the last commit; once a write of this batch changed the
    // channel, only the database (inside this transaction) knows the truth.
    const cached = this.dirtyInBatch.has(channelId) ? undefined : this.cache.get(channelId);
    if (cached) {
      if (req.open && cached.channel.status !== "open") throw new StoreConflict("channel_closed");
      if (req.holder && cached.slots.find((s) => s.slot_id === req.holder!.slot_id)?.holder !== req.holder.principal) {
        throw new StoreConflict("not_holder", req.holder.slot_id);
      }
    } else {
      if (req.open && this.q.getChannel.get(channelId)?.status !== "open") throw new StoreConflict("channel_closed");
      if (req.holder && this.q.slotHolder.get(channelId, req.holder.slot_id)?.holder !== req.holder.principal) {
        throw new StoreConflict("not_holder", req.holder.slot_id);
      }
    }
    if (req.soleSeat && this.q.otherSeat.get(channelId, req.soleSeat.principal, req.soleSeat.slot_id)) {
      throw new StoreConflict("already_seated", req.soleSeat.slot_id);
    }
  }

  /** The chain head from the database (inside the transaction); channels.head_hash keeps only the genesis. */
  private readHead(channelId: string): string {
    return this.q.lastMessage.get(channelId)?.hash ?? this.q.getGenesis.get(channelId)!.head_hash;
  }

  /** Inserts messages and moves the channel head; caller holds the transaction. */
  private appendLocked(channelId: string, prevHash: string, drafts: MessageDraft[], seal: Sealer): Message[] {
    let head = prevHash;
    const out: Message[] = [];
    for (const d of drafts) {
      const id = ++this.lastMessageId;
      const unsealed = { id, channel_id: channelId, sender: d.sender, kind: d.kind, body: d.body, ts: d.ts, to_slot: d.to_slot, ...(d.reply_to !== undefined ? { reply_to: d.reply_to } : {}) };
      const hash = seal(head, unsealed);
      this.q.insertMessage.run(id, channelId, d.sender, d.kind, JSON.stringify(d.body), d.ts, d.to_slot, d.reply_to ?? null, hash);
      head = hash;
      out.push({ ...unsealed, hash });
    }
    return out;
  }
}

function prepare(db: Database) {
  return {
    insertChannel: db.prepare("INSERT INTO channels (id, name, creator, status, created_at, head_hash) VALUES (?, ?, ?, ?, ?, ?)"),
    insertSlot: db.prepare(
      "INSERT INTO slots (channel_id, slot_id, label, kind, invite_hash, holder, rejoin_hash, admin, joined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    getChannel: db.prepare("SELECT id, name, creator, status, created_at FROM channels WHERE id = ?") as Statement<ChannelRecord, [string]>,
    getGenesis: db.prepare("SELECT head_hash FROM channels WHERE id = ?") as Statement<{ head_hash: string }, [string]>,
    lastMessage: db.prepare("SELECT id, hash FROM messages WHERE channel_id = ? ORDER BY id DESC LIMIT 1") as Statement<{ id: number; hash: string }, [string]>,
    updateChannel: db.prepare("UPDATE channels SET name = COALESCE(?, name), status = COALESCE(?, status) WHERE id = ?"),
    // Ordered in JS (s0, s1, …, s10): an ORDER BY on a computed key cost a temp B-tree per read.
    getSlots: db.prepare("SELECT * FROM slots WHERE channel_id = ?") as Statement<SlotRow, [string]>,
    slotHolder: db.prepare("SELECT holder FROM slots WHERE channel_id = ? AND slot_id = ?") as Statement<{ holder: string | null }, [string, string]>,
    otherSeat: db.prepare("SELECT slot_id FROM slots WHERE channel_id = ? AND holder = ? AND slot_id <> ? LIMIT 1") as Statement<{ slot_id: string }, [string, string, string]>,
    slotByInvite: db.prepare("SELECT * FROM slots WHERE invite_hash = ?") as Statement<SlotRow, [string]>,
    slotByRejoin: db.prepare("SELECT * FROM slots WHERE rejoin_hash = ?") as Statement<SlotRow, [string]>,
    slotByPrevRejoin: db.prepare("SELECT * FROM slots WHERE prev_rejoin_hash = ?") as Statement<SlotRow, [string]>,
    insertMessage: db.prepare(
      "INSERT INTO messages (id, channel_id, sender, kind, body, ts, to_slot, reply_to, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    listMessages: db.prepare(
      // A slot sees public messages, and the private ones of its current occupancy: addressed to it or
      // sent by it (e.g. to a bot), positioned (a bot's answer by its trigger) after the occupancy began.
      `SELECT * FROM messages WHERE channel_id = ?1 AND id > ?2
         AND (to_slot IS NULL OR ((to_slot = ?3 OR sender = ?3) AND COALESCE(reply_to, id) > ?4)) ORDER BY id LIMIT ?5`,
    ) as Statement<MessageRow, [string, number, string | null, number, number]>,
    listAllMessages: db.prepare("SELECT * FROM messages WHERE channel_id = ? AND id > ? ORDER BY id LIMIT ?") as Statement<MessageRow, [string, number, number]>,
    countMessages: db.prepare("SELECT COUNT(*) AS n FROM messages WHERE channel_id = ? AND id <= ?") as Statement<{ n: number }, [string, number]>,
    insertBot: db.prepare(
      "INSERT INTO bots (bot_id, channel_id, slot_id, name, version, code, manifest, params, code_hash, manifest_hash, seed, seed_commit, engine, state, last_seen, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    openBotChannels: db.prepare(
      "SELECT DISTINCT b.channel_id FROM bots b JOIN channels c ON c.id = b.channel_id WHERE c.status = 'open'",
    ) as Statement<{ channel_id: string }, []>,
    setBotState: db.prepare("UPDATE bots SET state = ?, last_seen = ? WHERE bot_id = ?"),
    getBots: db.prepare("SELECT * FROM bots WHERE channel_id = ? ORDER BY created_at, bot_id") as Statement<BotRow, [string]>,
    // Children first (foreign keys).
    discard: ["messages", "bots", "slots"].map((table) => db.prepare(`DELETE FROM ${table} WHERE channel_id = ?`)).concat(db.prepare("DELETE FROM channels WHERE id = ?")),
    channelsOf: db.prepare(
      `SELECT * FROM channels WHERE creator = ? OR id IN (SELECT channel_id FROM slots WHERE holder = ?)
       ORDER BY created_at DESC, id`,
    ) as Statement<ChannelRecord, [string, string]>,
  };
}

function toSlot(row: SlotRow): SlotRecord {
  return { ...row, admin: row.admin === 1 };
}

function toMessage(row: MessageRow): Message {
  const { reply_to, ...rest } = row;
  return { ...rest, body: JSON.parse(row.body), ...(reply_to !== null ? { reply_to } : {}) };
}
