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
