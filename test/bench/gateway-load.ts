/**
 * Load generator of the gateway bench (gateway.ts), in its own process like loadgen.ts. Run as
 * `bun test/bench/gateway-load.ts '<json job>'`; prints one JSON line (the result).
 *
 * One closed loop for every path, so direct and proxied calls are timed by the same code:
 *   http   `concurrency` MCP sessions over Streamable HTTP (http-client.ts: raw keep-alive sockets,
 *          no SDK), each calling `tool` with {text}: an upstream directly, or Parley's /mcp
 *   stdio  spawns `argv` as its child (empty environment, as the gateway gives it) and speaks
 *          newline-delimited JSON-RPC on its stdin/stdout, `concurrency` callers multiplexed on the
 *          one pipe by request id, as the gateway's one connection to a stdio upstream is shared
 * With `cpuPid` (http) the result carries that process's CPU seconds over the run; a stdio job
 * reports its own child's.
 */
import { McpSession, PROTOCOL_VERSION, type JsonRpcResponse } from "./http-client.ts";
import { cpuSeconds } from "./procs.ts";
import { closedLoop } from "./stats.ts";

interface Job {
  kind: "http" | "stdio";
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  tool: string;
  /** http: the MCP endpoint; tokens: one bearer per session (Parley), none for an upstream. */
  url?: string;
  tokens?: string[];
  /** stdio: the upstream's command. */
  argv?: string[];
}

export interface LoadResult {
  requests: number;
  /** Calls completed including warm-up (for CPU-per-call accounting). */
  total: number;
  errors: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  firstError?: string;
  /** CPU seconds of the stdio child over the whole job (stdio jobs only). */
  childCpuS?: number;
}

const ARGS = { text: "hello world" };

/** Newline-delimited JSON-RPC over a child's stdio (MCP stdio transport, spec 2025-11-25 "Transports"). */
class StdioClient {
  private nextId = 1;
  private readonly pending = new Map<number, (msg: JsonRpcResponse) => void>();
  private readonly proc: Bun.Subprocess<"pipe", "pipe", "inherit">;

  constructor(argv: string[]) {
    this.proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit", env: {} });
    void this.read();
  }

  get pid(): number {
    return this.proc.pid;
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const msg = JSON.parse(line) as JsonRpcResponse;
        const resolve = this.pending.get(msg.id);
        if (resolve) {
          this.pending.delete(msg.id);
          resolve(msg);
        }
      }
    }
  }

  private send(line: string): void {
    this.proc.stdin.write(line);
    this.proc.stdin.flush();
  }

  request(method: string, params: unknown): Promise<JsonRpcResponse> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.send(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });
  }

  async initialize(): Promise<void> {
    const init = await this.request("initialize", { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "bench", version: "1.0.0" } });
    if (init.error) throw new Error(`initialize: ${init.error.message}`);
    this.send(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
  }

  /** Like McpSession.toolCaller: the params formatted once, only the id changes. */
  toolCaller(name: string, args: Record<string, unknown>): () => Promise<JsonRpcResponse> {
    const params = JSON.stringify({ name, arguments: args });
    return () => {
      const id = this.nextId++;
      return new Promise((resolve) => {
        this.pending.set(id, resolve);
        this.send(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":${params}}\n`);
      });
    };
  }

  async close(): Promise<void> {
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 2_000);
    await this.proc.exited;
    clearTimeout(timer);
  }
}

async function run(job: Job): Promise<LoadResult> {
  let callers: (() => Promise<JsonRpcResponse>)[];
  let cleanup: () => Promise<void>;
  let childPid: number | null = null;
  if (job.kind === "http") {
    const sessions = await Promise.all(Array.from({ length: job.concurrency }, (_, i) => McpSession.open(job.url!, `bench-${i}`, job.tokens?.[i])));
    callers = sessions.map((s) => s.toolCaller(job.tool, ARGS));
    cleanup = async () => void (await Promise.all(sessions.map((s) => s.close())));
  } else {
    const client = new StdioClient(job.argv!);
    await client.initialize();
    childPid = client.pid;
    callers = Array.from({ length: job.concurrency }, () => client.toolCaller(job.tool, ARGS));
    cleanup = () => client.close();
  }
  const cpu0 = childPid === null ? 0 : cpuSeconds(childPid);

  const loop = await closedLoop(
    callers.map((call) => async () => {
      const msg = await call();
      return !msg.error && !!msg.result && !msg.result.isError ? true : JSON.stringify(msg).slice(0, 300);
    }),
    job,
  );
  const childCpuS = childPid === null ? undefined : cpuSeconds(childPid) - cpu0;
  await cleanup();
  return {
    requests: loop.requests,
    total: loop.total,
    errors: loop.failed,
    rate: loop.rate,
    p50ms: loop.p50ms,
    p99ms: loop.p99ms,
    ...(loop.firstError ? { firstError: loop.firstError } : {}),
    ...(childCpuS === undefined ? {} : { childCpuS }),
  };
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
process.stdout.write(`${JSON.stringify(await run(job))}\n`);
process.exit(0);
