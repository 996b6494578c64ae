/**
 * Bench load generator: a separate process from the server under test, so the server's event loop
 * only serves. Run as `bun test/bench/loadgen.ts '<json job>'`; prints one JSON line (the result).
 *
 * Jobs (all closed-loop: each connection keeps exactly one request in flight):
 *   hello      GET <url> on `concurrency` keep-alive connections
 *   echo       `concurrency` MCP sessions calling tools/call echo {text}
 *   post       `concurrency` MCP sessions, each seated in a slot of a channel (`channels` channels
 *              of concurrency/channels invite slots each), calling post_message
 *   latency    one poster and one syncer blocked in sync_messages; post → delivery time, client clock
 *   sync-page  one session re-seated with a rejoin token reads a fixed page with sync_messages
 */
import { buildRequest, HttpConnection, McpSession, type JsonRpcResponse } from "./http-client.ts";
import { closedLoop, median, percentile } from "./stats.ts";

interface ThroughputJob {
  kind: "hello" | "echo" | "post";
  url: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  channels?: number;
  /**
   * Bearer tokens for the sessions (one per session, then the admin's), signed in once by the
   * caller for all rounds: the server limits sign-ins per address, as it should.
   */
  tokens?: string[];
}
interface LatencyJob {
  kind: "latency";
  url: string;
  iterations: number;
  warmup: number;
}
interface SyncPageJob {
  kind: "sync-page";
  url: string;
  channelId: string;
  rejoinToken: string;
  /** Each page: messages with id > cursor, at most limit. */
  pages: { cursor: number; limit: number }[];
  iterations: number;
}
type Job = ThroughputJob | LatencyJob | SyncPageJob;

export interface ThroughputResult {
  kind: string;
  requests: number;
  /** Calls completed including warm-up (for CPU-per-call accounting). */
  total: number;
  errors: number;
  seconds: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  firstError?: string;
}

const BODY = "hello world";

async function throughput(job: ThroughputJob): Promise<ThroughputResult> {
  let calls: (() => Promise<boolean>)[];
  let cleanup: () => Promise<void>;
  const errors: string[] = [];
  if (job.kind === "hello") {
    const u = new URL(job.url);
    const conns = await Promise.all(Array.from({ length: job.concurrency }, () => HttpConnection.open(u.hostname, Number(u.port))));
    const req = buildRequest("GET", u.pathname, u.host, {});
    calls = conns.map((c) => async () => (await c.request(req)).status === 200);
    cleanup = async () => conns.forEach((c) => c.close());
  } else {
    const sessions = await Promise.all(Array.from({ length: job.concurrency }, (_, i) => McpSession.open(job.url, `bench-${i}`, job.tokens?.[i])));
    const extra: McpSession[] = [];
    let callers: (() => Promise<JsonRpcResponse>)[];
    if (job.kind === "echo") {
      callers = sessions.map((s) => s.toolCaller("echo", { text: BODY }));
    } else {
      const nChannels = Math.max(1, job.channels ?? 1);
      const admin = await McpSession.open(job.url, "bench-admin", job.tokens?.[job.concurrency]);
      extra.push(admin);
      const perChannel = Math.ceil(job.concurrency / nChannels);
      const channelOf: string[] = [];
      const inviteOf: string[] = [];
      for (let c = 0; c < nChannels; c++) {
        const n = Math.min(perChannel, job.concurrency - c * perChannel);
        if (n <= 0) break;
        const created = await admin.tool("create_channel", { name: `bench ${c}`, slots: Array.from({ length: n }, (_, i) => `invite:p${i}`) });
        for (const code of created.invites as string[]) {
          channelOf.push(created.channel_id);
          inviteOf.push(code);
        }
      }
      await Promise.all(sessions.map((s, i) => s.tool("join_channel", { invite_code: inviteOf[i] })));
      callers = sessions.map((s, i) => s.toolCaller("post_message", { channel_id: channelOf[i], body: BODY }));
    }
    let firstErr: string | undefined;
    calls = callers.map((call) => async () => {
      const msg = await call();
      const ok = !msg.error && msg.result && !msg.result.isError;
      if (!ok && !firstErr) firstErr = JSON.stringify(msg).slice(0, 300);
      if (!ok) errors.push(firstErr!);
      return ok;
    });
    cleanup = async () => {
      await Promise.all([...sessions, ...extra].map((s) => s.close()));
    };
  }

  const loop = await closedLoop(
    calls.map((call) => async () => {
      try {
        return (await call()) ? true : "failed";
      } catch (err) {
        errors.push(String(err));
        return String(err);
      }
    }),
    job,
  );
  await cleanup();
  const seconds = job.durationMs / 1000;
  return {
    kind: job.kind,
    requests: loop.requests,
    total: loop.total,
    errors: loop.failed,
    seconds,
    rate: loop.requests / seconds,
    p50ms: loop.p50ms,
    p99ms: loop.p99ms,
    ...(errors.length ? { firstError: errors[0] } : {}),
  };
}

async function latency(job: LatencyJob) {
  const poster = await McpSession.open(job.url, "bench-poster");
  const syncer = await McpSession.open(job.url, "bench-syncer");
  const created = await poster.tool("create_channel", { name: "latency", slots: ["invite:poster", "invite:syncer"] });
  const channel_id = created.channel_id as string;
  await poster.tool("join_channel", { invite_code: created.invites[0] });
  await syncer.tool("join_channel", { invite_code: created.invites[1] });
  let cursor = (await syncer.tool("sync_messages", { channel_id, cursor: 0, timeout_ms: 0 })).cursor as number;

  const deliver: number[] = [];
  const postRtt: number[] = [];
  for (let i = 0; i < job.warmup + job.iterations; i++) {
    const waiting = syncer.tool("sync_messages", { channel_id, cursor, timeout_ms: 10_000 });
    // Let the sync reach the server and park on the notifier before posting.
    await Bun.sleep(3);
    const t0 = performance.now();
    const posting = poster.tool("post_message", { channel_id, body: `ping ${i}` }).then((r) => ((postRtt[i] = performance.now() - t0), r));
    const got = await waiting;
    const t1 = performance.now();
    const posted = await posting;
    const ids = (got.messages as { id: number }[]).map((m) => m.id);
    if (!ids.includes(posted.msg_id)) throw new Error(`sync returned ${JSON.stringify(ids)}, expected ${posted.msg_id}`);
    cursor = got.cursor;
    if (i >= job.warmup) deliver.push(t1 - t0);
  }
  await Promise.all([poster.close(), syncer.close()]);
  const rtts = postRtt.slice(job.warmup);
  return {
    kind: "latency",
    samples: deliver.length,
    p50ms: percentile(deliver, 50),
    p99ms: percentile(deliver, 99),
    maxms: Math.max(...deliver),
    postP50ms: percentile(rtts, 50),
  };
}

async function syncPage(job: SyncPageJob) {
  const s = await McpSession.open(job.url, "bench-reader");
  await s.tool("join_channel", { invite_code: job.rejoinToken });
  const pages = [];
  for (const { cursor, limit } of job.pages) {
    const call = s.toolCaller("sync_messages", { channel_id: job.channelId, cursor, timeout_ms: 0, limit });
    const times: number[] = [];
    let count = 0;
    let lastId = 0;
    let bytes = 0;
    for (let i = 0; i < job.iterations + 20; i++) {
      const t0 = performance.now();
      const msg = await call();
      const t1 = performance.now();
      if (msg.error || msg.result.isError) throw new Error(`sync_messages failed: ${JSON.stringify(msg).slice(0, 300)}`);
      if (i >= 20) times.push(t1 - t0);
      if (i === 0) {
        const sc = msg.result.structuredContent as { messages: { id: number }[] };
        count = sc.messages.length;
        lastId = sc.messages.at(-1)?.id ?? 0;
        bytes = JSON.stringify(msg).length;
      }
    }
    pages.push({ limit, samples: times.length, p50ms: median(times), p99ms: percentile(times, 99), messages: count, lastId, responseBytes: bytes });
  }
  await s.close();
  return { kind: "sync-page", pages };
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const result = job.kind === "latency" ? await latency(job) : job.kind === "sync-page" ? await syncPage(job) : await throughput(job);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
