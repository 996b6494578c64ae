const NEWLINE = 10;

/**
 * Splits a byte stream into lines (MCP stdio: "messages are delimited by newlines"), holding at
 * most `maxBytes` of an unfinished line. A longer line is reported once to `onOverflow` with what
 * was held, and its rest is dropped up to the next newline: a child printing without end never
 * grows the server's memory.
 */
export class LineSplitter {
  private parts: Uint8Array[] = [];
  private size = 0;
  private dropping = false;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: (head: string) => void,
  ) {}

  push(chunk: Uint8Array): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end < 0) break;
      this.take(chunk.subarray(start, end), true);
      start = end + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start), false);
  }

  /** The unfinished last line, at the end of the stream. */
  end(): void {
    if (this.size > 0 && !this.dropping) this.onLine(this.drain());
    this.parts = [];
    this.size = 0;
    this.dropping = false;
  }

  private take(piece: Uint8Array, complete: boolean): void {
    if (this.dropping) {
      if (complete) this.dropping = false;
      return;
    }
    if (this.size + piece.length > this.maxBytes) {
      this.parts.push(piece.subarray(0, this.maxBytes - this.size));
      this.size = this.maxBytes;
      this.onOverflow(this.drain());
      this.dropping = !complete;
      return;
    }
    if (!complete) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    if (this.size === 0) return this.onLine(this.decoder.decode(piece));
    this.parts.push(piece);
    this.onLine(this.drain());
  }

  private drain(): string {
    const bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    return this.decoder.decode(bytes);
  }
}
