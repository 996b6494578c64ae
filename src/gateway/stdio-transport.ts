import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { log } from "../lib/log.ts";
import { LineSplitter } from "./lines.ts";
import type { UpstreamProcess } from "./upstream-process.ts";

/** Largest message an upstream may write on stdout (the SDK's own stdio reader allows 10 MiB). */
export const MAX_STDIO_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Lines that are not JSON-RPC logged per upstream; the rest are only counted. */
const GARBAGE_LINES_LOGGED = 20;

/**
 * MCP's stdio transport over an UpstreamProcess, instead of the SDK's StdioClientTransport: that
 * one spawns the child itself, with no process group and with HOME, PATH, SHELL, USER… of the
 * server's environment added to whatever it is given. A line on stdout that is not a JSON-RPC
 * message (MCP stdio: the server "MUST NOT write anything to its stdout that is not a valid MCP
 * message") is logged and skipped, so one stray print does not take the upstream down; a message
 * over MAX_STDIO_MESSAGE_BYTES ends the connection.
 */
export class StdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private closed = false;
  private garbage = 0;
  /**
   * Messages are handed on one per microtask, in order: the SDK runs a notification's handler a
   * microtask after receiving it but a response at once, so a progress notification and the
   * result right behind it in one read would lose the progress (its handler gone with the result).
   */
  private delivery = Promise.resolve();

  constructor(
    private readonly server: string,
    private readonly child: UpstreamProcess,
  ) {}

  async start(): Promise<void> {
    void this.read();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new Error("Not connected");
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
    await this.child.stdin.flush();
  }

  async close(): Promise<void> {
    this.finish();
  }

  private async read(): Promise<void> {
    const lines = new LineSplitter(
      MAX_STDIO_MESSAGE_BYTES,
      (line) => this.receive(line),
      () => {
        this.onerror?.(new Error(`a message on stdout passed ${MAX_STDIO_MESSAGE_BYTES} bytes`));
        this.finish();
      },
    );
    try {
      for await (const chunk of this.child.stdout) {
        if (this.closed) break;
        lines.push(chunk);
      }
    } catch {
      // The pipe broke with the process.
    }
    this.finish();
  }

  private receive(line: string): void {
    if (this.closed || line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // Not JSON.
    }
    if (looksLikeJsonRpc(value)) {
      const message = value;
      this.delivery = this.delivery.then(() => {
        try {
          this.onmessage?.(message);
        } catch (err) {
          this.onerror?.(err as Error);
        }
      });
      return;
    }
    if (++this.garbage <= GARBAGE_LINES_LOGGED) {
      log.warn("upstream wrote a line that is not JSON-RPC on stdout (skipped)", { server: this.server, line: line.slice(0, 200), count: this.garbage });
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    // After the messages read before the end.
    this.delivery = this.delivery.then(() => this.onclose?.());
  }
}

/**
 * A JSON-RPC 2.0 message's shape: a request or notification (a method), or a response (an id with
 * a result or an error). What each carries is checked where it is used (the SDK parses a result
 * against the request's schema and a notification against its handler's): a full zod parse of
 * every message here was ~7 % of Parley's CPU per proxied call (CPU profile under 16 callers).
 */
function looksLikeJsonRpc(value: unknown): value is JSONRPCMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== "2.0") return false;
  if (typeof m.method === "string") return m.id === undefined || typeof m.id === "string" || typeof m.id === "number";
  if (typeof m.id !== "string" && typeof m.id !== "number") return false;
  return ("result" in m && typeof m.result === "object" && m.result !== null) || ("error" in m && typeof m.error === "object" && m.error !== null);
}
