import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { signIn } from "./oauth.ts";

export interface ConnectOptions {
  /** Bearer token to send; default: sign in afresh (a new OAuth client = a new identity). */
  token?: string;
  /** Send no token (for --no-auth servers). */
  noAuth?: boolean;
}

export interface TestClient extends AsyncDisposable {
  client: Client;
  /** The bearer token this client sends (undefined with noAuth). */
  token?: string;
  transport: StreamableHTTPClientTransport;
  /** Calls a tool and returns its structured result; throws with the error text on isError. */
  call<T = any>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Calls a tool and returns the raw result (for error assertions). */
  raw(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** The error text of a tool call that must fail. */
  error(name: string, args?: Record<string, unknown>): Promise<string>;
}

export async function connect(mcpUrl: string, name = "test", options: ConnectOptions = {}): Promise<TestClient> {
  const token = options.noAuth ? undefined : (options.token ?? (await signIn(new URL(mcpUrl).origin)).access_token);
  const client = new Client({ name, version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : undefined,
  });
  await client.connect(transport);
  return wrapClient(client, transport, token);
}

/** The test conveniences around a connected SDK client (whatever way it signed in). */
export function wrapClient(client: Client, transport: StreamableHTTPClientTransport, token?: string): TestClient {
  const raw = async (tool: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 60_000 })) as CallToolResult;
  return {
    client,
    token,
    transport,
    raw,
    async call(tool, args) {
      const res = await raw(tool, args);
      const text = (res.content[0] as { text: string }).text;
      if (res.isError) throw new Error(text);
      return (res.structuredContent ?? JSON.parse(text)) as any;
    },
    async error(tool, args) {
      const res = await raw(tool, args);
      if (!res.isError) throw new Error(`expected ${tool} to fail, got ${JSON.stringify(res.structuredContent)}`);
      return (res.content[0] as { text: string }).text;
    },
    async [Symbol.asyncDispose]() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/**
 * Reads a channel with long polls from `cursor` until `until(messages so far)` holds; returns the
 * messages read and the cursor. Waits on the server's wake-ups, never on sleeps.
 */
export async function syncUntil(client: TestClient, channelId: string, until: (messages: any[]) => boolean, cursor = 0): Promise<{ messages: any[]; cursor: number }> {
  const messages: any[] = [];
  for (let i = 0; i < 50; i++) {
    const page = await client.call("sync_messages", { channel_id: channelId, cursor, timeout_ms: 5_000 });
    messages.push(...page.messages);
    cursor = page.cursor;
    if (until(messages)) return { messages, cursor };
  }
  throw new Error(`condition not met in channel ${channelId}; read ${JSON.stringify(messages.map((m) => m.body))}`);
}
