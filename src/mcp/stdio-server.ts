import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { JSONRPCMessageSchema, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";

/** Bytes of an oversized line kept at each end: where its `id` is (the SDK writes it last, others first). */
const EDGE_BYTES = 1024;

/**
 * The server side of MCP stdio (MCP 2025-11-25 transports: newline-delimited JSON-RPC, nothing
 * else on stdout), with a cap on one message. The SDK's StdioServerTransport closes itself when a
 * line outgrows its 10 MiB buffer (the process then ends with its calls in flight) and drops a line
 * that is not JSON-RPC without an answer. Here an oversized line is skipped to its end without being
 * kept and answered with an error under its `id` (read from the line's first and last bytes), a line
 * that is not JSON gets -32700 and one that is not a JSON-RPC message -32600 (JSON-RPC 2.0 §5.1),
 * and the transport goes on.
 */
export class BoundedStdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private parts: Buffer[] = [];
  private size = 0;
  /** The line being skipped: its first and last bytes, and its length so far. */
  private skipping: { head: Buffer; tail: Buffer; bytes: number } | null = null;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly stdin: NodeJS.ReadableStream = process.stdin,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
  ) {}

  async start(): Promise<void> {
    this.stdin.on("data", this.onData);
    this.stdin.on("error", this.onError);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.stdout.write(JSON.stringify(message) + "\n")) return;
    await new Promise<void>((resolve) => this.stdout.once("drain", resolve));
  }

  async close(): Promise<void> {
    this.stdin.off("data", this.onData);
    this.stdin.off("error", this.onError);
    this.stdin.pause();
    this.parts = [];
    this.onclose?.();
  }

  private readonly onError = (error: Error) => this.onerror?.(error);

  private readonly onData = (chunk: Buffer | string) => {
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (;;) {
      const newline = data.indexOf(10, start);
      this.take(data.subarray(start, newline === -1 ? data.length : newline));
      if (newline === -1) return;
      this.endLine();
      start = newline + 1;
    }
  };

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.skipping) {
      this.skipping.bytes += piece.length;
      this.skipping.tail = Buffer.from(Buffer.concat([this.skipping.tail, piece.subarray(-EDGE_BYTES)]).subarray(-EDGE_BYTES));
      return;
    }
    if (this.size + piece.length <= this.maxMessageBytes) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    const line = Buffer.concat([...this.parts, piece]);
    this.skipping = { head: Buffer.from(line.subarray(0, EDGE_BYTES)), tail: Buffer.from(line.subarray(-EDGE_BYTES)), bytes: line.length };
    this.parts = [];
    this.size = 0;
  }

  private endLine(): void {
    if (this.skipping) {
      const { head, tail, bytes } = this.skipping;
      this.skipping = null;
      void this.refuse(idOf(head.toString("utf8"), tail.toString("utf8")), -32000, `INVALID_REQUEST: Message of ${bytes} bytes exceeds ${this.maxMessageBytes} bytes`);
      return;
    }
    const line = Buffer.concat(this.parts).toString("utf8").replace(/\r$/, "");
    this.parts = [];
    this.size = 0;
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      void this.refuse(null, -32700, "Parse error: the line is not JSON");
      return;
    }
    const message = JSONRPCMessageSchema.safeParse(json);
    if (!message.success) {
      const id = (json as { id?: unknown } | null)?.id;
      void this.refuse(typeof id === "string" || typeof id === "number" ? id : null, -32600, "Invalid Request: not a JSON-RPC 2.0 message");
      return;
    }
    this.onmessage?.(message.data);
  }

  private async refuse(id: RequestId | null, code: number, message: string): Promise<void> {
    this.onerror?.(new Error(message));
    // A notification (no id) gets no answer (JSON-RPC 2.0 §4.1); an unreadable one is answered with id null (§5).
    await this.send({ jsonrpc: "2.0", id, error: { code, message } } as unknown as JSONRPCMessage);
  }
}

const ID_VALUE = String.raw`(-?\d+|"(?:[^"\\]|\\.){0,256}")`;
/** A top-level id written last (`…,"id":7}`) or first (`{"jsonrpc":"2.0","id":7,…` or `{"id":7,…`). */
const ID_LAST = new RegExp(String.raw`,\s*"id"\s*:\s*${ID_VALUE}\s*\}\s*$`);
const ID_FIRST = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${ID_VALUE}`);

function idOf(head: string, tail: string): RequestId | null {
  const found = ID_LAST.exec(tail.replace(/\r$/, "")) ?? ID_FIRST.exec(head);
  if (!found) return null;
  try {
    return JSON.parse(found[1]!) as RequestId;
  } catch {
    return null;
  }
}
