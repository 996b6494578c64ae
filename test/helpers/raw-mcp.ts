/**
 * An MCP session over plain fetch, for tests and benches that need to see the answer itself (its
 * size, its SSE framing) rather than what the SDK Client makes of it. Answers are read whole
 * with Response.text(), which stays linear for answers of hundreds of MB.
 */
export const PROTOCOL_VERSION = "2025-11-25";

export interface RawAnswer {
  /** The JSON-RPC result (throws on a JSON-RPC error). */
  result: any;
  /** Characters of the HTTP body (the SSE stream). */
  bytes: number;
}

export class RawMcpSession {
  private nextId = 1;
  sessionId = "";

  private constructor(
    readonly url: string,
    readonly token: string | undefined,
    private readonly fetcher: typeof fetch,
  ) {}

  static async open(url: string, token?: string, fetcher: typeof fetch = fetch): Promise<RawMcpSession> {
    const s = new RawMcpSession(url, token, fetcher);
    const res = await s.post({ jsonrpc: "2.0", id: s.nextId++, method: "initialize", params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
    await res.text();
    if (res.status !== 200) throw new Error(`initialize: HTTP ${res.status}`);
    s.sessionId = res.headers.get("mcp-session-id") ?? "";
    await (await s.post({ jsonrpc: "2.0", method: "notifications/initialized" })).text();
    return s;
  }

  private headers(): Record<string, string> {
    return {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...(this.sessionId ? { "mcp-session-id": this.sessionId, "mcp-protocol-version": PROTOCOL_VERSION } : {}),
    };
  }

  private post(body: unknown): Promise<Response> {
    return this.fetcher(this.url, { method: "POST", headers: this.headers(), body: JSON.stringify(body) });
  }

  async request(method: string, params: unknown): Promise<RawAnswer> {
    const id = this.nextId++;
    const res = await this.post({ jsonrpc: "2.0", id, method, params });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${text.slice(0, 200)}`);
    for (const line of text.split("\n")) {
      if (!line.startsWith("data: ") || line.length < 8) continue;
      const msg = JSON.parse(line.slice(6));
      if (msg.id !== id) continue;
      if (msg.error) throw new Error(`${method}: ${msg.error.message}`);
      return { result: msg.result, bytes: text.length };
    }
    throw new Error(`${method}: the answer (${text.length} characters) ended without a result`);
  }

  /** A tool's structured result and the answer's size; throws with the error text on isError. */
  async call(name: string, args: Record<string, unknown> = {}): Promise<{ value: any; bytes: number }> {
    const { result, bytes } = await this.request("tools/call", { name, arguments: args });
    if (result.isError) throw new Error(result.content[0].text);
    return { value: result.structuredContent, bytes };
  }

  async tool(name: string, args: Record<string, unknown> = {}): Promise<any> {
    return (await this.call(name, args)).value;
  }

  /** DELETE the session; returns the HTTP status. */
  async close(): Promise<number> {
    const res = await this.fetcher(this.url, { method: "DELETE", headers: this.headers() });
    await res.text();
    return res.status;
  }
}
