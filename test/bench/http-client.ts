/**
 * A lean HTTP/1.1 keep-alive client over raw Bun sockets, and a minimal MCP Streamable HTTP client
 * on top of it. Used by the bench load generator so the generator costs as little CPU as possible
 * (the server and the generator share this machine's two cores): no fetch, no SDK Client, no zod.
 *
 * One request in flight per connection. Responses are framed by Content-Length or chunked
 * transfer encoding (Bun sends SSE bodies chunked); the SSE stream ends when the server has sent
 * the JSON-RPC response, so a tools/call completes when its HTTP response completes.
 */
import type { Socket } from "bun";
import { signIn } from "../helpers/oauth.ts";

export interface HttpResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string;
}

interface Pending {
  resolve(res: HttpResponse): void;
  reject(err: Error): void;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

export class HttpConnection {
  private socket!: Socket<undefined>;
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
  private unsent: Buffer | null = null;
  // Parse state of the response being read.
  private head: { status: number; headers: Record<string, string>; bodyStart: number; length: number; chunked: boolean } | null = null;
  private chunkPos = 0;
  private parts: Buffer[] = [];
  closed = false;

  private constructor(
    readonly hostname: string,
    readonly port: number,
  ) {}

  static async open(hostname: string, port: number): Promise<HttpConnection> {
    const conn = new HttpConnection(hostname, port);
    conn.socket = await Bun.connect<undefined>({
      hostname,
      port,
      socket: {
        data: (_s, data) => conn.onData(data),
        drain: (s) => {
          if (!conn.unsent) return;
          const n = s.write(conn.unsent);
          conn.unsent = n < conn.unsent.length ? conn.unsent.subarray(n) : null;
        },
        close: () => conn.onClose(new Error("connection closed")),
        error: (_s, err) => conn.onClose(err),
      },
    });
    conn.socket.setNoDelay?.(true);
    return conn;
  }

  /** Sends one complete raw request (see buildRequest) and resolves with the whole response. */
  request(raw: string | Buffer): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(new Error("connection closed"));
    if (this.pending) return Promise.reject(new Error("request already in flight on this connection"));
    return new Promise<HttpResponse>((resolve, reject) => {
      this.pending = { resolve, reject };
      const bytes = typeof raw === "string" ? Buffer.from(raw) : raw;
      const n = this.socket.write(bytes);
      if (n < bytes.length) this.unsent = bytes.subarray(Math.max(0, n));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
  }

  private onClose(err: Error): void {
    this.closed = true;
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  private onData(data: Buffer): void {
    this.buf = this.buf.length === 0 ? Buffer.from(data) : Buffer.concat([this.buf, data]);
    for (;;) {
      if (!this.head) {
        const end = this.buf.indexOf(CRLFCRLF);
        if (end < 0) return;
        const lines = this.buf.toString("latin1", 0, end).split("\r\n");
        const status = Number(lines[0]!.slice(9, 12));
        const headers: Record<string, string> = {};
        for (let i = 1; i < lines.length; i++) {
          const line = lines[i]!;
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const chunked = (headers["transfer-encoding"] ?? "").includes("chunked");
        this.head = { status, headers, bodyStart: end + 4, length: Number(headers["content-length"] ?? 0), chunked };
        this.chunkPos = end + 4;
        this.parts = [];
      }
      const h = this.head;
      let consumed: number;
      if (!h.chunked) {
        if (this.buf.length < h.bodyStart + h.length) return;
        this.parts.push(this.buf.subarray(h.bodyStart, h.bodyStart + h.length));
        consumed = h.bodyStart + h.length;
      } else {
        // chunk: HEX[;ext]\r\nDATA\r\n ... 0\r\n\r\n (no trailers from Bun)
        let done = false;
        for (;;) {
          const lineEnd = this.buf.indexOf(CRLF, this.chunkPos);
          if (lineEnd < 0) return;
          const size = parseInt(this.buf.toString("latin1", this.chunkPos, lineEnd), 16);
          if (size === 0) {
            if (this.buf.length < lineEnd + 4) return;
            this.chunkPos = lineEnd + 4;
            done = true;
            break;
          }
          if (this.buf.length < lineEnd + 2 + size + 2) return;
          this.parts.push(this.buf.subarray(lineEnd + 2, lineEnd + 2 + size));
          this.chunkPos = lineEnd + 2 + size + 2;
        }
        if (!done) return;
        consumed = this.chunkPos;
      }
      const body = this.parts.length === 1 ? this.parts[0]!.toString("utf8") : Buffer.concat(this.parts).toString("utf8");
      const res: HttpResponse = { status: h.status, headers: h.headers, body };
      this.buf = consumed >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(consumed);
      this.head = null;
      this.parts = [];
      const p = this.pending;
      this.pending = null;
      p?.resolve(res);
      if (this.buf.length === 0) return;
    }
  }
}

/** A raw HTTP/1.1 request with keep-alive. Bodies are JSON (ASCII-safe or UTF-8; length is in bytes). */
export function buildRequest(method: string, path: string, host: string, headers: Record<string, string>, body?: string): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (body !== undefined) {
    const bytes = Buffer.from(body);
    head += `Content-Length: ${bytes.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, "latin1"), bytes]);
  }
  return Buffer.from(`${head}\r\n`, "latin1");
}

export const PROTOCOL_VERSION = "2025-11-25";

export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: number;
  result?: any;
  error?: { code: number; message: string };
}

/** Picks the JSON-RPC message with this id out of an SSE body (or a plain JSON body). */
export function responseFromBody(res: HttpResponse, id: number): JsonRpcResponse {
  const type = res.headers["content-type"] ?? "";
  if (type.startsWith("application/json")) return JSON.parse(res.body) as JsonRpcResponse;
  // SSE: events separated by a blank line; we only need `data:` lines (priming events have empty data).
  let at = 0;
  const body = res.body;
  for (;;) {
    const d = body.indexOf("data: ", at);
    if (d < 0) break;
    const end = body.indexOf("\n", d);
    const data = body.slice(d + 6, end < 0 ? undefined : end);
    at = end < 0 ? body.length : end;
    if (!data.trim()) continue;
    const msg = JSON.parse(data) as JsonRpcResponse;
    if (msg.id === id && ("result" in msg || "error" in msg)) return msg;
  }
  throw new Error(`no JSON-RPC response with id ${id} in HTTP ${res.status} body: ${body.slice(0, 300)}`);
}

class Unauthorized extends Error {}

/**
 * One MCP session over one keep-alive connection: initialize → notifications/initialized → calls,
 * each a POST with Mcp-Session-Id and MCP-Protocol-Version, answered as SSE (or JSON).
 */
export class McpSession {
  sessionId = "";
  /** Bearer token, obtained by a real OAuth sign-in when the server answers 401 (Parley); none for the SDK echo server. */
  private token = "";
  private nextId = 1;
  private readonly hostHeader: string;

  private constructor(
    readonly conn: HttpConnection,
    readonly path: string,
  ) {
    this.hostHeader = `${conn.hostname}:${conn.port}`;
  }

  /** `token`: a bearer signed in beforehand; without one, the session signs in if the server asks. */
  static async open(url: string, clientName = "bench", token?: string): Promise<McpSession> {
    const u = new URL(url);
    const conn = await HttpConnection.open(u.hostname, Number(u.port));
    const s = new McpSession(conn, u.pathname);
    if (token) s.token = token;
    try {
      await s.initialize(clientName);
    } catch (err) {
      if (!(err instanceof Unauthorized)) throw err;
      // Each session signs in as its own identity (one slot per member in Parley).
      s.token = (await signIn(u.origin)).access_token;
      await s.initialize(clientName);
    }
    return s;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
    };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    if (this.sessionId) {
      h["Mcp-Session-Id"] = this.sessionId;
      h["MCP-Protocol-Version"] = PROTOCOL_VERSION;
    }
    return h;
  }

  private async initialize(clientName: string): Promise<void> {
    const id = this.nextId++;
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "initialize",
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: clientName, version: "1.0.0" } },
    });
    const res = await this.conn.request(buildRequest("POST", this.path, this.hostHeader, this.headers(), body));
    if (res.status === 401 && !this.token) throw new Unauthorized();
    if (res.status !== 200) throw new Error(`initialize: HTTP ${res.status} ${res.body}`);
    const msg = responseFromBody(res, id);
    if (msg.error) throw new Error(`initialize: ${msg.error.message}`);
    this.sessionId = res.headers["mcp-session-id"] ?? "";
    if (!this.sessionId) throw new Error("initialize: no Mcp-Session-Id header");
    const note = await this.conn.request(
      buildRequest("POST", this.path, this.hostHeader, this.headers(), JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })),
    );
    if (note.status !== 202) throw new Error(`notifications/initialized: HTTP ${note.status} ${note.body}`);
  }

  /**
   * A reusable request builder for one tool with fixed arguments (the hot loop): only the id
   * changes between calls, so the headers are formatted once.
   */
  toolCaller(name: string, args: Record<string, unknown>): () => Promise<JsonRpcResponse> {
    const params = JSON.stringify({ name, arguments: args });
    let head = `POST ${this.path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    for (const [k, v] of Object.entries(this.headers())) head += `${k}: ${v}\r\n`;
    return async () => {
      const id = this.nextId++;
      const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":${params}}`;
      const res = await this.conn.request(`${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      if (res.status !== 200) throw new Error(`tools/call ${name}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
      return responseFromBody(res, id);
    };
  }

  /** JSON-RPC request; throws on a JSON-RPC error. */
  async request(method: string, params: unknown): Promise<any> {
    const id = this.nextId++;
    const res = await this.conn.request(buildRequest("POST", this.path, this.hostHeader, this.headers(), JSON.stringify({ jsonrpc: "2.0", id, method, params })));
    if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
    const msg = responseFromBody(res, id);
    if (msg.error) throw new Error(`${method}: ${msg.error.code} ${msg.error.message}`);
    return msg.result;
  }

  /** tools/call returning structuredContent (or the parsed text); throws when isError. */
  async tool<T = any>(name: string, args: Record<string, unknown> = {}): Promise<T> {
    const result = await this.request("tools/call", { name, arguments: args });
    if (result.isError) throw new Error(`${name}: ${result.content?.[0]?.text}`);
    return (result.structuredContent ?? JSON.parse(result.content[0].text)) as T;
  }

  /** DELETE the session, then close the connection. */
  async close(): Promise<void> {
    try {
      if (this.sessionId && !this.conn.closed) await this.conn.request(buildRequest("DELETE", this.path, this.hostHeader, this.headers()));
    } catch {
      // the server may already be gone
    }
    this.conn.close();
  }
}
