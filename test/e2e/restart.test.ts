/**
 * Durability across crashes. One data dir, one shared channel, four SDK clients posting in a loop
 * (each seated with its own invite). The server is SIGKILLed mid-traffic twice and restarted on a
 * the same port with the same data dir; clients reconnect in new MCP sessions with the OAuth access
 * token they signed in with, and keep their seats: membership belongs to the token's subject, not
 * to the session (README: Identity, membership and rejoin tokens). A rejoin token still moves a seat to another identity.
 *
 * A post counts as acknowledged when post_message RETURNED its msg_id. A post that was in flight
 * when the server died is "in doubt": it may or may not be stored, but at most once. At the end the
 * log must hold every acknowledged message exactly once, in acknowledged order, with strictly
 * increasing ids and an intact hash chain; nothing else but in-doubt posts and the system messages
 * the run explains. Invites made before a crash are redeemable after it, access tokens and rejoin
 * tokens issued before a crash work after it, and seats stay filled.
 *
 * No sleep synchronises anything: the controller waits for conditions (every client has posts
 * acknowledged by the current server) and sleeps only to let traffic flow into the kill.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { genesisHash, sealMessage } from "../../src/channels/index.ts";
import { signIn } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const PLAYERS = 4;
const KILLS = 2;
/** Each player must get this many posts acknowledged by a server before that server is killed. */
const ACKS_PER_LIFE = 25;

const dataDir = mkdtempSync(join(tmpdir(), "parley-restart-"));
/** Every server process this test started; whatever is still alive at the end is killed. */
const started: ServerProcess[] = [];
afterAll(async () => {
  for (const srv of started) await srv[Symbol.asyncDispose]();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Wakes waiters whenever something they may be waiting for happened (an ack, a failure, a restart). */
class Progress {
  private waiters = new Set<() => void>();
  bump(): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const w of all) w();
  }
  /** Resolves once cond() holds; rejects with `what` if it does not within the deadline (a hang guard, not a timing assertion). */
  async until(cond: () => boolean, what: string, deadlineMs = 20_000): Promise<void> {
    const giveUp = Date.now() + deadlineMs;
    while (!cond()) {
      const left = giveUp - Date.now();
      if (left <= 0) throw new Error(`gave up waiting for: ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

class ToolError extends Error {}

/** An SDK client that does not try to resume streams of a dead server (we reconnect ourselves). */
async function open(mcpUrl: string, name: string, token: string): Promise<Client> {
  const client = new Client({ name, version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1_000, maxReconnectionDelay: 1_000, reconnectionDelayGrowFactor: 1 },
  });
  await client.connect(transport);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<any> {
  const res = await client.callTool({ name, arguments: args }, undefined, { signal, timeout: 30_000 });
  const text = (res.content as { text: string }[])[0]!.text;
  if (res.isError) throw new ToolError(text);
  return res.structuredContent ?? JSON.parse(text);
}

/** One server process's life. */
interface Life {
  n: number;
  srv: ServerProcess;
  /** Set just before the SIGKILL: from then on, a failed call is an expected casualty. */
  killed: boolean;
  /** Aborted once the process is dead, so calls whose stream died do not wait on a resume. */
  abort: AbortController;
}

interface Ack {
  player: number;
  seq: number;
  msg_id: number;
  life: number;
  /** Logical clock (not time): when the call was sent and when its result came back. */
  sentAt: number;
  ackedAt: number;
}

test(`every acknowledged post survives ${KILLS} SIGKILLs mid-traffic, exactly once, in order, hash-chained`, async () => {
  const progress = new Progress();
  let life: Life = { n: 0, srv: await startServer({ dataDir }), killed: false, abort: new AbortController() };
  started.push(life.srv);
  let clock = 0;
  let stopping = false;
  const acks: Ack[] = [];
  const inDoubt: { player: number; seq: number; life: number }[] = [];
  const failures: string[] = [];
  const seats: string[] = [];
  /** Each player's rejoin token, given once when it joined. */
  const rejoinTokens: string[] = [];
  const lateAcks: { msg_id: number; body: string; slot: string }[] = [];
  // Restarts reuse the port: the OAuth issuer and token audience are the public URL, port included.
  const port = life.srv.port;
  const fresh = async (name: string, srv: ServerProcess) => open(srv.mcpUrl, name, (await signIn(srv.url)).access_token);

  const admin = await fresh("admin", life.srv);
  const slotSpecs = [...Array.from({ length: PLAYERS }, (_, i) => `invite:p${i}`), ...Array.from({ length: KILLS }, (_, k) => `invite:late${k + 1}`)];
  const created = await call(admin, "create_channel", { name: "durable", slots: slotSpecs });
  const channelId: string = created.channel_id;
  await call(admin, "update_channel", { channel_id: channelId, ops: [{ type: "rename", name: "durable room" }] });
  const lateInvites: string[] = created.invites.slice(PLAYERS); // made now, redeemed only after crashes

  async function player(i: number): Promise<void> {
    let mine = life;
    const token = (await signIn(mine.srv.url)).access_token;
    let client = await open(mine.srv.mcpUrl, `p${i}`, token);
    const seated = await call(client, "join_channel", { invite_code: created.invites[i] });
    seats[i] = seated.slot_id;
    rejoinTokens[i] = seated.rejoin_token;
    let seq = 0;
    try {
      while (!stopping) {
        seq++;
        const sentAt = ++clock;
        try {
          const res = await call(client, "post_message", { channel_id: channelId, body: `p${i}#${seq}` }, mine.abort.signal);
          acks.push({ player: i, seq, msg_id: res.msg_id, life: mine.n, sentAt, ackedAt: ++clock });
          progress.bump();
          continue;
        } catch (err) {
          if (err instanceof ToolError || !mine.killed) throw err;
          inDoubt.push({ player: i, seq, life: mine.n });
        }
        // Our server died: wait for its successor, then come back in a new session with the same
        // access token; the seat is still ours without any rejoin.
        await client.close().catch(() => {});
        await progress.until(() => life.n > mine.n || stopping, `restart after life ${mine.n}`);
        if (stopping) return;
        mine = life;
        client = await open(mine.srv.mcpUrl, `p${i}`, token);
        const info = await call(client, "get_channel_info", { channel_id: channelId });
        expect(info.view.you).toBe(seats[i]!);
      }
    } catch (err) {
      failures.push(`player ${i} (life ${mine.n}, seq ${seq}): ${err instanceof Error ? err.message : String(err)}`);
      progress.bump();
    } finally {
      await client.close().catch(() => {});
    }
  }

  const everyoneAckedIn = (n: number) => {
    const counts = new Array(PLAYERS).fill(0);
    for (const a of acks) if (a.life === n) counts[a.player]++;
    return counts.every((c) => c >= ACKS_PER_LIFE);
  };
  const waitForTraffic = async () => {
    await progress.until(() => failures.length > 0 || everyoneAckedIn(life.n), `${ACKS_PER_LIFE} acks per player in life ${life.n}`);
    expect(failures).toEqual([]);
  };

  const loops = Array.from({ length: PLAYERS }, (_, i) => player(i));
  try {
    for (let k = 1; k <= KILLS; k++) {
      await waitForTraffic();
      await Bun.sleep(3 * k); // let traffic flow into the kill; synchronises nothing
      life.killed = true;
      await life.srv.kill("SIGKILL");
      life.abort.abort();
      if (k === 1) await admin.close().catch(() => {});

      const srv = await startServer({ dataDir, port });
      started.push(srv);
      expect(srv.port).toBe(port);
      // Before any player is back: an invite made before the crash still seats someone, and the
      // seats filled before the crash are still filled (s0…s3 by players' dead sessions, late ones too).
      const late = await fresh(`late${k}`, srv);
      const joined = await call(late, "join_channel", { invite_code: lateInvites[k - 1] });
      expect(joined.slot_id).toBe(`s${PLAYERS + k - 1}`);
      const info = await call(late, "get_channel_info", { channel_id: channelId });
      expect(info.view.name).toBe("durable room");
      expect(info.view.status).toBe("open");
      expect(info.view.slots.map((s: any) => s.filled)).toEqual(slotSpecs.map((_, s) => s < PLAYERS + k));
      const body = `late${k}`;
      const posted = await call(late, "post_message", { channel_id: channelId, body });
      lateAcks.push({ msg_id: posted.msg_id, body, slot: joined.slot_id });
      await late.close();

      life = { n: k, srv, killed: false, abort: new AbortController() };
      progress.bump();
    }
    await waitForTraffic();
  } finally {
    stopping = true;
    progress.bump();
    await Promise.all(loops);
  }
  expect(failures).toEqual([]);

  // Verify as a new identity that takes player 0's seat with the rejoin token issued before both crashes.
  const reader = await fresh("verifier", life.srv);
  const back = await call(reader, "join_channel", { invite_code: rejoinTokens[0] });
  expect(back.slot_id).toBe(seats[0]!);
  // Rotated: the token just used is dead for anyone else (only its redeemer may retry a lost answer).
  const other = await fresh("someone-else", life.srv);
  expect((await call(other, "join_channel", { invite_code: rejoinTokens[0] }).catch((e) => e)).message).toStartWith("INVITE_INVALID:");

  const log: any[] = [];
  for (let cursor = 0; ; ) {
    const page = await call(reader, "sync_messages", { channel_id: channelId, cursor, timeout_ms: 0, limit: 200 });
    if (page.messages.length === 0) break;
    log.push(...page.messages);
    cursor = page.cursor;
  }
  const info = await call(reader, "get_channel_info", { channel_id: channelId });
  expect(info.view.slots.map((s: any) => [s.slot_id, s.filled])).toEqual(slotSpecs.map((_, s) => [`s${s}`, true]));
  expect((await call(reader, "list_channels", {})).channels.map((c: any) => c.channel_id)).toEqual([channelId]);
  await reader.close();

  // Ids strictly increasing; the hash chain is intact from genesis across both crashes.
  let prev = genesisHash(channelId);
  for (let j = 0; j < log.length; j++) {
    const m = log[j];
    if (j > 0) expect(m.id).toBeGreaterThan(log[j - 1].id);
    const { hash, ...unsealed } = m;
    expect(Object.keys(unsealed).sort()).toEqual(["body", "channel_id", "id", "kind", "sender", "to_slot", "ts"]);
    expect(hash).toBe(sealMessage(prev, unsealed));
    prev = hash;
  }

  // Every acknowledged post is in the log exactly once, with the text and seat it was posted with.
  const byId = new Map(log.map((m) => [m.id as number, m]));
  expect(new Set(acks.map((a) => a.msg_id)).size).toBe(acks.length);
  for (const a of acks) {
    const m = byId.get(a.msg_id);
    expect(m).toBeDefined();
    expect(m).toMatchObject({ kind: "user", sender: seats[a.player], body: { text: `p${a.player}#${a.seq}` }, to_slot: null });
  }
  for (const l of lateAcks) expect(byId.get(l.msg_id)).toMatchObject({ kind: "user", sender: l.slot, body: { text: l.body } });

  // In acknowledged order: per player, ids follow the order of its posts; across players, a post
  // acknowledged before another was sent has the smaller id.
  for (let i = 0; i < PLAYERS; i++) {
    const ids = acks.filter((a) => a.player === i).sort((x, y) => x.seq - y.seq).map((a) => a.msg_id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
  }
  const byAck = [...acks].sort((x, y) => x.ackedAt - y.ackedAt);
  let p = 0;
  let maxIdAckedBefore = 0;
  for (const b of [...acks].sort((x, y) => x.sentAt - y.sentAt)) {
    while (p < byAck.length && byAck[p]!.ackedAt < b.sentAt) maxIdAckedBefore = Math.max(maxIdAckedBefore, byAck[p++]!.msg_id);
    expect(b.msg_id).toBeGreaterThan(maxIdAckedBefore);
  }

  // Nothing else: every user message is an acknowledged post, a late joiner's post, or an in-doubt
  // post stored once; system messages are exactly the ones this run caused.
  const acked = new Set(acks.map((a) => `p${a.player}#${a.seq}`));
  const doubtful = new Set(inDoubt.map((d) => `p${d.player}#${d.seq}`));
  const seenTexts = new Map<string, number>();
  const system: string[] = [];
  for (const m of log) {
    if (m.kind === "system") {
      system.push(`${m.body.type}${m.body.slot_id ? `:${m.body.slot_id}` : ""}`);
      continue;
    }
    expect(m.kind).toBe("user");
    const text: string = m.body.text;
    seenTexts.set(text, (seenTexts.get(text) ?? 0) + 1);
    if (lateAcks.some((l) => l.body === text)) continue;
    const match = /^p(\d+)#(\d+)$/.exec(text);
    expect(match).not.toBeNull();
    expect(m.sender).toBe(seats[Number(match![1])]!);
    expect(acked.has(text) || doubtful.has(text)).toBe(true);
  }
  for (const [text, n] of seenTexts) if (n !== 1) throw new Error(`"${text}" stored ${n} times`);
  expect(seenTexts.size).toBe(acks.length + lateAcks.length + inDoubt.filter((d) => seenTexts.has(`p${d.player}#${d.seq}`)).length);

  const expectedSystem = [
    "channel:create",
    "channel:rename",
    ...seats.map((s) => `slot:join:${s}`),
    ...lateAcks.map((l) => `slot:join:${l.slot}`),
    `slot:rejoin:${seats[0]}`, // the verifier took player 0's seat
  ].sort();
  expect(system.sort()).toEqual(expectedSystem);

  const committedInDoubt = inDoubt.filter((d) => seenTexts.has(`p${d.player}#${d.seq}`)).length;
  console.log(
    `[restart] ${acks.length} acknowledged posts over ${KILLS + 1} lives, ${log.length} messages in the log; ` +
      `${inDoubt.length} posts in flight at a kill (${committedInDoubt} of them stored, the rest not)`,
  );
});
