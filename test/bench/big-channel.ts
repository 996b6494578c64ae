/**
 * Bench (f): a channel of 1,000,000 messages, seeded straight into a temp data dir with bun:sqlite
 * in large transactions (the channel and its slots go through the channels domain, so those rows
 * are exactly what the server writes; the bulk messages carry a correct hash chain sealed with the
 * server's own sealMessage), then the domain call syncMessages timed in-process.
 */
import * as channels from "../../src/channels/index.ts";
import { Notifier, sealMessage, type ChannelsContext } from "../../src/channels/index.ts";
import { SqliteStore } from "../../src/store/index.ts";
import { median, percentile } from "./stats.ts";

export interface BigChannel {
  dataDir: string;
  channelId: string;
  /** Highest message id after seeding. */
  lastId: number;
  /** Rows in the channel (system messages from create/join + bulk). */
  count: number;
  /** Principal seated in s0 (for the in-process domain calls). */
  readerPrincipal: string;
  /** Rejoin token for s0, so an MCP session can take the slot over. */
  rejoinToken: string;
  seedSeconds: number;
}

export async function seedBigChannel(dataDir: string, messages: number, batch = 50_000): Promise<BigChannel> {
  const started = performance.now();
  const store = new SqliteStore(dataDir);
  const ctx: ChannelsContext = { store, notifier: new Notifier(), limits: { maxMessageBytes: 64 * 1024 } };
  const created = await channels.createChannel(ctx, { principal: "bench-admin" }, { name: "big", slots: ["invite:reader", "invite:writer"] });
  const readerPrincipal = "bench-reader";
  const joined = await channels.joinChannel(ctx, { principal: readerPrincipal }, { invite_code: created.invites[0]! });
  await channels.joinChannel(ctx, { principal: "bench-writer" }, { invite_code: created.invites[1]! });
  const channelId = created.channel_id;

  const db = store.db;
  // Seeding only: the file is thrown away afterwards, so durability does not matter here.
  db.run("PRAGMA synchronous = OFF");
  let head = db.query<{ head_hash: string }, [string]>("SELECT head_hash FROM channels WHERE id = ?").get(channelId)!.head_hash;
  let id = db.query<{ m: number }, []>("SELECT MAX(id) AS m FROM messages").get()!.m;
  const insert = db.prepare("INSERT INTO messages (id, channel_id, sender, kind, body, ts, to_slot, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const setHead = db.prepare("UPDATE channels SET head_hash = ? WHERE id = ?");
  const base = Date.parse("2025-01-01T00:00:00.000Z");
  const insertBatch = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) {
      id++;
      const sender = id % 2 === 0 ? "s0" : "s1";
      const body = { text: `message number ${id}: the quick brown fox jumps over the lazy dog` };
      const ts = new Date(base + id).toISOString();
      const hash = sealMessage(head, { id, channel_id: channelId, sender, kind: "user", body, ts, to_slot: null });
      insert.run(id, channelId, sender, "user", JSON.stringify(body), ts, null, hash);
      head = hash;
    }
    setHead.run(head, channelId);
  });
  for (let left = messages; left > 0; left -= batch) insertBatch(Math.min(batch, left));
  db.run("PRAGMA synchronous = NORMAL");
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  const count = db.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM messages WHERE channel_id = ?").get(channelId)!.n;
  store.close();
  return { dataDir, channelId, lastId: id, count, readerPrincipal, rejoinToken: joined.rejoin_token, seedSeconds: (performance.now() - started) / 1000 };
}

export interface DomainSyncResult {
  limit: number;
  messages: number;
  p50ms: number;
  p99ms: number;
  /** The store query alone (listMessages), for the breakdown. */
  storeP50ms: number;
}

/** Times channels.syncMessages for the last page (cursor = lastId - limit), in-process, on a freshly opened store. */
export async function measureDomainSync(big: BigChannel, limit: number, iterations = 200): Promise<DomainSyncResult> {
  const store = new SqliteStore(big.dataDir);
  try {
    const ctx: ChannelsContext = { store, notifier: new Notifier(), limits: { maxMessageBytes: 64 * 1024 } };
    const caller = { principal: big.readerPrincipal };
    const input = { channel_id: big.channelId, cursor: big.lastId - limit, timeout_ms: 0, limit };
    const times: number[] = [];
    const storeTimes: number[] = [];
    let got = 0;
    for (let i = 0; i < iterations + 20; i++) {
      const t0 = performance.now();
      const res = await channels.syncMessages(ctx, caller, input);
      const t1 = performance.now();
      await store.listMessages(big.channelId, { after: input.cursor, slotId: "s0", limit });
      const t2 = performance.now();
      if (i >= 20) {
        times.push(t1 - t0);
        storeTimes.push(t2 - t1);
      }
      got = res.messages.length;
      if (res.cursor !== big.lastId) throw new Error(`last page ended at ${res.cursor}, expected ${big.lastId}`);
    }
    return { limit, messages: got, p50ms: median(times), p99ms: percentile(times, 99), storeP50ms: median(storeTimes) };
  } finally {
    store.close();
  }
}
