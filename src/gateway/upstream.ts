import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CallToolResultSchema,
  ErrorCode,
  GetPromptResultSchema,
  McpError,
  PromptListChangedNotificationSchema,
  ReadResourceResultSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type GetPromptResult,
  type Progress,
  type ReadResourceResult,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import { resolveHeaders, type UpstreamConfig } from "../config/index.ts";
import { AppError } from "../errors.ts";
import { log } from "../lib/log.ts";
import { CallSlots, rateLimitedProgress } from "./call-slots.ts";
import { listExtras, listTools, NO_EXTRAS, type UpstreamExtras } from "./listing.ts";
import { HttpAnswers } from "./http-answers.ts";
import { MAX_STDIO_MESSAGE_BYTES, StdioTransport } from "./stdio-transport.ts";
import { childEnv, resolveCommand, UpstreamProcess } from "./upstream-process.ts";

/** The first restart waits this long; each failure in a row doubles it, up to restart_max_seconds. */
const BACKOFF_BASE_MS = 1_000;
/** An upstream up this long starts its backoff over at its next failure. */
const STABLE_MS = 30_000;
/** While up, a ping this often: how a hung stdio child or a dead HTTP server is noticed when idle. */
const PING_INTERVAL_MS = 30_000;
const PING_TIMEOUT_MS = 10_000;
/** Time a stopping child gets after its stdin closes, and again after SIGTERM, before SIGKILL. */
const STOP_GRACE_MS = 1_000;
/** Re-listings after an upstream's list_changed are at least this far apart (the first is at once). */
const RELIST_GAP_MS = 1_000;
/** An HTTP answer may stream this much longer than the call waits for it, then it is cut. */
const ANSWER_MARGIN_MS = 10_000;

export type UpstreamState = "starting" | "up" | "down" | "stopped";

export interface UpstreamOptions {
  config: UpstreamConfig;
  /** The server's environment: `env` names of a stdio upstream, PATH to find its command. */
  env: Readonly<Record<string, string | undefined>>;
  /** This executable as a command (`parley` in a config). */
  self: readonly string[];
  version: string;
  /** Tools of `server` to hold back, by upstream name → reason (pins; hooks.ts). */
  review(server: string, tools: readonly Tool[]): Promise<ReadonlyMap<string, string>> | ReadonlyMap<string, string>;
  /** After any change of state or tools. */
  onChange(upstream: Upstream): void;
}

export interface CallOptions {
  /** Who calls (the audit's subject): one caller may hold at most half of max_calls_in_flight. */
  caller?: string;
  /** The caller's cancellation (notifications/cancelled), passed on upstream. */
  signal?: AbortSignal;
  onprogress?: (progress: Progress) => void;
}

/**
 * One upstream MCP server: its connection (one SDK Client), and the loop that keeps it up. A
 * stdio upstream is a child process in its own group, restarted with exponential backoff when it
 * exits, stops answering pings or cannot be started; an HTTP upstream is reconnected the same
 * way. It counts as up only once a tools/list has succeeded, and its tools are listed only then.
 */
export class Upstream {
  readonly name: string;
  readonly kind: "stdio" | "http";
  state: UpstreamState = "starting";
  since = Date.now();
  retryAt: number | null = null;
  lastError: string | null = null;
  restarts = 0;
  tools: readonly Tool[] = [];
  held: ReadonlyMap<string, string> = new Map();
  /** Its resources, resource templates and prompts (where it has them), listed with its tools. */
  extras: UpstreamExtras = NO_EXTRAS;
  /** It answered tools/list with no tools after having had some. */
  emptied = false;
  private hadTools = false;
  private failures = 0;
  private client: Client | null = null;
  private process: UpstreamProcess | null = null;
  private answers: HttpAnswers | null = null;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private lose: ((reason: string) => void) | null = null;
  private probing = false;
  private readonly slots: CallSlots;
  private relisting: Promise<void> | null = null;
  private relistAgain = false;
  private lastRelist = -Infinity;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: UpstreamOptions) {
    this.name = options.config.name;
    this.kind = options.config.command ? "stdio" : "http";
    this.headers = resolveHeaders(options.config, options.env);
    this.slots = new CallSlots(this.name, () => this.options.config.max_calls_in_flight);
  }

  /** The config it runs with (a reload compares it with the new one). */
  get config(): UpstreamConfig {
    return this.options.config;
  }

  get pid(): number | null {
    return this.process?.pid ?? null;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops it for good: its connection closed, its process group killed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    this.lose?.("stopping");
    await (this.loop ?? this.teardown());
  }

  /** The error a call gets while it is not up, saying since when and when it retries. */
  unavailable(): AppError {
    const since = new Date(this.since).toISOString();
    if (this.state === "starting") return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" is starting (since ${since})`);
    const retry = this.retryAt ? `, retrying in ${Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000))} s` : "";
    return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" is down since ${since}${retry}${this.lastError ? ` (${this.lastError})` : ""}`);
  }

  /** Calls a tool by the upstream's own name; errors are AppErrors (UPSTREAM_UNAVAILABLE, INVALID_REQUEST). */
  call(tool: string, args: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<CallToolResult> {
    return this.request("tools/call", { name: tool, ...(args === undefined ? {} : { arguments: args }) }, CallToolResultSchema, options);
  }

  /** resources/read of one of its resources (or a URI of one of its templates). */
  readResource(uri: string, options: CallOptions = {}): Promise<ReadResourceResult> {
    return this.request("resources/read", { uri }, ReadResourceResultSchema, options);
  }

  /** prompts/get by the upstream's own prompt name. */
  getPrompt(name: string, args: Record<string, string> | undefined, options: CallOptions = {}): Promise<GetPromptResult> {
    return this.request("prompts/get", { name, ...(args === undefined ? {} : { arguments: args }) }, GetPromptResultSchema, options);
  }

  private async request<S extends z.ZodType>(method: string, params: Record<string, unknown>, schema: S, options: CallOptions): Promise<z.infer<S>> {
    const client = this.client;
    if (this.state !== "up" || !client) throw this.unavailable();
    const timeout = this.options.config.call_timeout_seconds * 1000;
    this.slots.take(options.caller);
    try {
      const onprogress = options.onprogress && rateLimitedProgress(options.onprogress);
      return await client.request({ method, params } as never, schema, { signal: options.signal, timeout, onprogress });
    } catch (err) {
      throw this.callError(err, options.signal, timeout);
    } finally {
      this.slots.release(options.caller);
    }
  }

  private callError(err: unknown, signal: AbortSignal | undefined, timeout: number): AppError {
    if (signal?.aborted) return new AppError("UPSTREAM_UNAVAILABLE", `The call to upstream "${this.name}" was cancelled`);
    if (this.stopping) return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" was stopped during the call (the server is stopping, or a config reload removed or changed it)`);
    if (err instanceof McpError) {
      if (err.code === ErrorCode.RequestTimeout) {
        void this.probe();
        return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" did not answer within ${timeout / 1000} s`);
      }
      if (err.code === ErrorCode.ConnectionClosed) return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" went away during the call`);
      // A JSON-RPC error it answered: the arguments (-32602: the upstream validated them) or its own failure.
      if (err.code === ErrorCode.InvalidParams) return new AppError("INVALID_REQUEST", `Upstream "${this.name}" refused the call: ${err.message}`);
      return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" failed the call: ${err.message}`);
    }
    if (err instanceof Error && err.name === "ZodError") return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" answered something that is not a valid result`);
    // The message could not be sent (a broken pipe, an HTTP server gone): reconnect.
    this.lose?.(`cannot reach it: ${describe(err)}`);
    return new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${this.name}" cannot be reached (${describe(err)})`);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.setState("starting");
      let reason: string;
      let upFor = 0;
      try {
        const session = await this.session();
        reason = session.reason;
        upFor = session.upFor;
      } catch (err) {
        reason = describe(err);
      }
      await this.teardown();
      if (this.stopping) break;
      reason = clip(reason);
      if (upFor >= STABLE_MS) this.failures = 0;
      const delay = Math.min(this.options.config.restart_max_seconds * 1000, BACKOFF_BASE_MS * 2 ** Math.min(this.failures, 30));
      this.failures++;
      this.lastError = reason;
      this.retryAt = Date.now() + delay;
      this.setState("down");
      log.warn("upstream down", { server: this.name, reason, retry_in_ms: delay, restarts: this.restarts });
      await new Promise<void>((done) => {
        const timer = setTimeout(done, delay);
        this.wake = () => {
          clearTimeout(timer);
          done();
        };
      });
      this.wake = null;
      this.retryAt = null;
      if (!this.stopping) this.restarts++;
    }
    this.setState("stopped");
  }

  /** One connection's life: started, listed, up until it is lost; resolves with why it ended. */
  private async session(): Promise<{ reason: string; upFor: number }> {
    const ended = new Promise<string>((resolve) => (this.lose = resolve));
    const client = new Client({ name: "parley-gateway", version: this.options.version }, { capabilities: {} });
    client.onclose = () => void this.closeReason().then((reason) => this.lose?.(reason));
    this.client = client;
    const timeout = this.options.config.start_timeout_seconds * 1000;
    const started = (async () => {
      await client.connect(this.transport(), { timeout });
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.relist());
      client.setNotificationHandler(ResourceListChangedNotificationSchema, () => this.relist());
      client.setNotificationHandler(PromptListChangedNotificationSchema, () => this.relist());
      await this.list(client, timeout);
    })();
    // Each request of the start has its own timeout; the whole start has it too (an upstream paging
    // its tools/list slowly, each page just in time, would otherwise keep it starting for good).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((resolve) => (timer = setTimeout(resolve, timeout, `did not start within ${timeout / 1000} s`)));
    let first: string | null;
    try {
      first = await Promise.race([started.then(() => null), ended, late]);
    } catch (err) {
      // A child that exits while starting fails the handshake with "Connection closed": say how it ended.
      if (this.process && err instanceof McpError && err.code === ErrorCode.ConnectionClosed) return { reason: await this.closeReason(), upFor: 0 };
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (first !== null) {
      started.catch(() => {});
      return { reason: first, upFor: 0 };
    }
    const upAt = Date.now();
    this.lastError = null;
    this.setState("up");
    log.info("upstream up", { server: this.name, tools: this.tools.length, pid: this.pid ?? undefined });
    const pinger = setInterval(() => void this.probe(), PING_INTERVAL_MS);
    pinger.unref?.();
    try {
      return { reason: await ended, upFor: Date.now() - upAt };
    } finally {
      clearInterval(pinger);
    }
  }

  /** Why the connection closed: for a child, how it ended (its stdout closes a moment before its exit status is known). */
  private async closeReason(): Promise<string> {
    const child = this.process;
    if (!child) return "connection closed";
    await Promise.race([child.exited, Bun.sleep(STOP_GRACE_MS)]);
    return child.exitDescription ?? "it closed its stdout";
  }

  private transport(): Transport {
    const { config, env, self } = this.options;
    if (config.url) {
      this.answers = new HttpAnswers(MAX_STDIO_MESSAGE_BYTES, config.call_timeout_seconds * 1000 + ANSWER_MARGIN_MS);
      return new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers: this.headers }, fetch: this.answers.fetch });
    }
    // The caller of the spawn failing (no such command) ends this session: down, retried with backoff.
    const argv = resolveCommand(config.command!, env.PATH, self);
    this.process = new UpstreamProcess({ server: this.name, argv, env: childEnv(config.env, env), cwd: config.cwd });
    return new StdioTransport(this.name, this.process);
  }

  /** tools/list, every page (bounded), then the pin review; the tools change only when all of it succeeded. */
  private async list(client: Client, timeout: number): Promise<void> {
    const listed = await listTools(client, this.name, timeout);
    const held = await this.options.review(this.name, listed);
    const extras = await listExtras(client, this.name, timeout);
    // A start that ran out of time: its connection is gone, and with it its say.
    if (this.client !== client) return;
    this.extras = extras;
    this.emptied = this.hadTools && listed.length === 0;
    this.hadTools ||= listed.length > 0;
    this.tools = listed;
    this.held = held;
  }

  /** Reviews the tools it listed last again (the pins changed: an approval), without asking the upstream. */
  async review(): Promise<void> {
    if (this.state !== "up") return;
    const tools = this.tools;
    const held = await this.options.review(this.name, tools);
    if (this.tools !== tools || this.state !== "up") return;
    this.held = held;
    this.options.onChange(this);
  }

  /**
   * The upstream said its tools (resources, prompts) changed: list them again. One listing at a
   * time, at most one a RELIST_GAP_MS, and notifications that come meanwhile make one more after
   * it: each listing is a tools/list, a pin review, a fingerprint of every definition and, when
   * they changed, a list_changed to every session granted them, and an upstream could send
   * thousands of notifications at once, or change its tools without pause.
   */
  private relist(): void {
    if (this.relisting) {
      this.relistAgain = true;
      return;
    }
    this.relisting = (async () => {
      do {
        this.relistAgain = false;
        const wait = this.lastRelist + RELIST_GAP_MS - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        if (this.stopping) break;
        this.lastRelist = performance.now();
        await this.listAgain();
      } while (this.relistAgain && !this.stopping);
    })().finally(() => (this.relisting = null));
  }

  private async listAgain(): Promise<void> {
    const client = this.client;
    if (!client || this.state !== "up") return;
    try {
      await this.list(client, this.options.config.start_timeout_seconds * 1000);
      this.options.onChange(this);
    } catch (err) {
      this.lose?.(`tools/list failed: ${describe(err)}`);
    }
  }

  /** A ping, after a call timed out and every PING_INTERVAL_MS: no answer means it hangs, so restart it. */
  private async probe(): Promise<void> {
    const client = this.client;
    if (!client || this.probing || this.state !== "up") return;
    this.probing = true;
    try {
      await client.ping({ timeout: Math.min(PING_TIMEOUT_MS, this.options.config.call_timeout_seconds * 1000) });
    } catch (err) {
      if (this.client === client) this.lose?.(`did not answer a ping (${describe(err)})`);
    } finally {
      this.probing = false;
    }
  }

  private async teardown(): Promise<void> {
    const client = this.client;
    const child = this.process;
    this.client = null;
    this.process = null;
    this.lose = null;
    await client?.close().catch(() => {});
    this.answers?.close();
    this.answers = null;
    await child?.stop(STOP_GRACE_MS);
  }

  private setState(state: UpstreamState): void {
    if (state !== "up") {
      this.tools = [];
      this.held = new Map();
      this.extras = NO_EXTRAS;
    }
    this.state = state;
    this.since = Date.now();
    this.options.onChange(this);
  }
}

/** Characters of a reason kept (status, the log, each refused call's error): an upstream writes its error messages. */
const MAX_REASON_CHARS = 500;

function clip(reason: string): string {
  return reason.length <= MAX_REASON_CHARS ? reason : `${reason.slice(0, MAX_REASON_CHARS)}… (${reason.length} characters)`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
