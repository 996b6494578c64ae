import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Identity } from "../identity.ts";
import { EventBudget, SessionEventStore } from "./event-store.ts";
import { addressGroup } from "../lib/address.ts";
import { Counts } from "../lib/counts.ts";
import { VerifiedAuthInfo } from "./identity.ts";
import { floodVictim } from "./session-eviction.ts";

const MAX_SESSIONS_PER_SUBJECT = 32;
const MAX_SESSIONS = 10_000;
const MAX_SESSIONS_PER_ADDRESS = 256;

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  events: SessionEventStore;
  lastSeen: number;
  /** The token subject that opened the session; null in --no-auth mode. */
  subject: string | null;
  /** Where it was opened from (an IPv6 address stands for its /64), for fair eviction. */
  address: string;
  /** The caller of the session's latest request (what its server pushes under). */
  auth: SessionAuth;
}

/** Who a session's latest request was verified as: a client refreshes its token mid-session. */
export interface SessionAuth {
  current: Identity | undefined;
}

export interface McpEndpointOptions {
  /** Builds the McpServer for a new session; `auth` follows the token of its latest request. */
  createServer: (auth: SessionAuth) => McpServer;
  idleMs: number;
  maxBodyBytes: number;
  /**
   * Event-loop turns a call usually takes to be answered (a write: until its group commit, plus
   * one): a POST's response is handed to Bun only then, so that it goes out whole.
   */
  answerTurns: number;
  /** Most sessions in all (config max_sessions); beyond, a flooder's session goes first. */
  maxSessions?: number;
  /**
   * Most sessions from one address (config max_sessions_per_address; an IPv6 address counts as its
   * /64); beyond, one of that address's goes. Each session may hold a GET stream open for as long as
   * it lasts, so this is what bounds one address's open connections.
   */
  maxSessionsPerAddress?: number;
  /** Byte caps of the resumption event stores (defaults in event-store.ts; tests set them small). */
  eventBytes?: { perSession?: number; all?: number };
}

/**
 * Hands a POST's SSE response to Bun only after `turns` event-loop turns (see answerTurns). The
 * SDK returns the stream before the call has run. A stream that is complete when Bun starts
 * reading it goes out in one write; one still open goes out in two (headers and priming event,
 * then answer and end), each a syscall and a wake-up of the client, and through Bun's slower
 * streaming path: ~20 µs more server CPU per call, measured on post_message. A call that takes
 * longer (a long poll) streams as before, `turns` turns later.
 */
async function afterCallTurns(response: Response, turns: number): Promise<Response> {
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) return response;
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
  return response;
}

/**
 * A POST body with a declared length (already checked against the cap), read by Bun natively:
 * the SDK would read it through a ReadableStream reader, ~3 µs more per call. Anything else —
 * a chunked body, or text that is not JSON — goes to the SDK unparsed (as a copy when already
 * read), so its checks and their order (406, 415, 413, -32700) stay the SDK's.
 */
async function readJsonBody(request: Request): Promise<{ request: Request; body?: unknown }> {
  if (!request.headers.get("content-length")) return { request };
  let text = "";
  try {
    text = await request.text();
    return { request, body: JSON.parse(text) };
  } catch {
    // Not JSON, or the body broke off: the SDK answers it as it would have.
    return { request: new Request(request.url, { method: "POST", headers: request.headers, body: text }) };
  }
}

/** JSON-RPC error response with no id (MCP transports: errors outside a request carry none). */
export function jsonRpcError(status: number, code: number, message: string, headers?: HeadersInit): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status, headers });
}

/**
 * Streamable HTTP at /mcp, stateful: one transport + McpServer per session, SSE responses with an
 * event store (resumable with Last-Event-ID). SSE, not JSON-response mode: the SDK's JSON mode
 * leaks per request (typescript-sdk #2559) and drops in-call notifications.
 */
export class McpEndpoint {
  private readonly sessions = new Map<string, Session>();
  /** Open sessions per subject and per address group, kept with the table (eviction reads them). */
  private readonly perSubject = new Counts<string | null>();
  private readonly perAddress = new Counts<string>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  /** The bytes every session's event store holds, capped in all. */
  readonly eventBudget: EventBudget;

  constructor(private readonly options: McpEndpointOptions) {
    this.eventBudget = new EventBudget(options.eventBytes?.all);
    this.sweeper = setInterval(() => this.closeIdle(), Math.min(60_000, Math.max(1_000, options.idleMs / 2)));
    this.sweeper.unref?.();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** `address`: the caller's IP address (as the HTTP layer resolves it), for fair eviction under a flood. */
  async handle(request: Request, identity: Identity | null, address: string): Promise<Response> {
    const authInfo = identity ? new VerifiedAuthInfo(identity) : undefined;
    const sid = request.headers.get("mcp-session-id");
    if (sid) {
      const session = this.sessions.get(sid);
      // MCP transports: a terminated or unknown session MUST get 404; the client re-initializes.
      // Sessions are bound to their subject (MCP security best practices): another subject
      // presenting the id learns nothing, not even that it exists.
      if (!session || session.subject !== (identity?.subject ?? null)) return jsonRpcError(404, -32001, "Session not found");
      session.lastSeen = Date.now();
      if (identity) session.auth.current = identity;
      if (request.method !== "POST") return session.transport.handleRequest(request, { authInfo });
      const read = await readJsonBody(request);
      return afterCallTurns(await session.transport.handleRequest(read.request, { authInfo, parsedBody: read.body }), this.options.answerTurns);
    }
    if (request.method !== "POST") return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");

    let body: unknown;
    try {
      body = await request.json();
    } catch {
      return jsonRpcError(400, -32700, "Parse error: body is not valid JSON");
    }
    if (!isInitializeRequest(body)) {
      return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required (send initialize first)");
    }
    return this.startSession(request, body, identity, addressGroup(address));
  }

  private async startSession(request: Request, body: unknown, identity: Identity | null, address: string): Promise<Response> {
    const subject = identity?.subject ?? null;
    this.makeRoom(subject, address);
    const authInfo = identity ? new VerifiedAuthInfo(identity) : undefined;
    const auth: SessionAuth = { current: identity ?? undefined };
    const server = this.options.createServer(auth);
    const events = new SessionEventStore(this.eventBudget, undefined, this.options.eventBytes?.perSession);
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      eventStore: events,
      // A client that lost its stream reconnects after this (MCP 2025-11-25 SSE `retry`).
      retryInterval: 1_000,
      maxRequestBodySize: this.options.maxBodyBytes,
      onsessioninitialized: (id) => {
        this.sessions.set(id, { transport, server, events, lastSeen: Date.now(), subject, address, auth });
        this.perSubject.add(subject);
        this.perAddress.add(address);
      },
      onsessionclosed: (id) => {
        this.drop(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) this.drop(transport.sessionId);
    };
    await server.connect(transport);
    return transport.handleRequest(request, { parsedBody: body, authInfo });
  }

  private drop(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    this.perSubject.remove(session.subject);
    this.perAddress.remove(session.address);
    // Its kept answers go now, not whenever the last reference to the transport does.
    session.events.close();
    void session.server.close().catch(() => {});
  }

  /**
   * Bounds memory and open streams against a client that opens sessions and never closes them: at
   * most MAX_SESSIONS_PER_SUBJECT per subject, whose least recently used one goes; at most
   * maxSessionsPerAddress per address, one of that address's going (its identity with the most
   * there, least recently used: see floodVictim); and maxSessions in all, where the flooder's go
   * first. The closed session's client gets 404 on its next request and re-initializes, as after
   * idle expiry.
   */
  private makeRoom(subject: string | null, address: string): void {
    if (subject !== null && this.perSubject.of(subject) >= MAX_SESSIONS_PER_SUBJECT) {
      let oldest: [string, Session] | undefined;
      for (const entry of this.sessions) if (entry[1].subject === subject && (!oldest || entry[1].lastSeen < oldest[1].lastSeen)) oldest = entry;
      if (oldest) this.drop(oldest[0]);
    }
    const fromHere = this.perAddress.of(address);
    if (fromHere >= (this.options.maxSessionsPerAddress ?? MAX_SESSIONS_PER_ADDRESS)) {
      const victim = floodVictim(this.sessions, new Map([[address, fromHere]]));
      if (victim) this.drop(victim);
    }
    if (this.sessions.size >= (this.options.maxSessions ?? MAX_SESSIONS)) {
      const victim = floodVictim(this.sessions, this.perAddress);
      if (victim) this.drop(victim);
    }
  }

  /**
   * Sends notifications/tools/list_changed to each session whose caller `affected` says may now
   * see other tools (an upstream's tools or state changed, a grant was revoked); the caller is the
   * one of the session's latest request (null in --no-auth mode).
   */
  notifyToolsChanged(affected: (caller: Identity | null) => boolean): number {
    let told = 0;
    for (const session of this.sessions.values()) {
      if (!affected(session.auth.current ?? null)) continue;
      told++;
      // A session without a GET stream has nowhere to receive it; its next tools/list is fresh anyway.
      const server = session.server.server;
      void server.sendToolListChanged().catch(() => {});
      // Upstream resources and prompts come and go with their upstream too (where it is declared).
      // (A server without the prompts capability refuses that one: nothing to tell.)
      void server.sendResourceListChanged().catch(() => {});
      void server.sendPromptListChanged().catch(() => {});
    }
    return told;
  }

  /** Closes sessions unused for idleMs; their clients get 404 and start a new one. */
  closeIdle(now = Date.now()): number {
    let closed = 0;
    for (const [id, s] of this.sessions) {
      if (now - s.lastSeen < this.options.idleMs) continue;
      this.drop(id);
      closed++;
    }
    return closed;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.sessions.keys()];
    for (const id of all) this.drop(id);
  }
}
