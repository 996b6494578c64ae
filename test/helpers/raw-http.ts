import { connect, type Socket } from "node:net";

/** A raw TCP connection to the server, for clients that misbehave below what fetch can express. */
export interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** The status code of the first response, once its status line arrived. */
  status(): number | null;
  /** Settles when the server (or the network) closed the connection: ms since it was opened. */
  closed: Promise<number>;
  isClosed(): boolean;
}

export interface RawOptions {
  /** Source address: any 127.0.0.0/8 address reaches a loopback server on Linux (a second "client"). */
  localAddress?: string;
}

/** Opens a connection and writes `head` (request line, headers and any start of a body). */
export function openRaw(port: number, head: string, options: RawOptions = {}): Promise<RawConnection> {
  const opened = Date.now();
  const socket = connect({ port, host: "127.0.0.1", localAddress: options.localAddress });
  let text = "";
  let closed = false;
  socket.on("data", (d) => (text += d.toString("latin1")));
  const closedAt = new Promise<number>((resolve) => {
    socket.on("close", () => {
      closed = true;
      resolve(Date.now() - opened);
    });
  });
  // An error (ECONNRESET) is followed by close; both mean the server let go.
  socket.on("error", () => {});
  return new Promise((resolve) => {
    const conn: RawConnection = {
      socket,
      received: () => text,
      status: () => {
        const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
        return m ? Number(m[1]) : null;
      },
      closed: closedAt,
      isClosed: () => closed,
    };
    socket.once("connect", () => {
      socket.write(head);
      resolve(conn);
    });
    // Refused or reset before connecting: report it as a closed connection.
    void closedAt.then(() => resolve(conn));
  });
}

/** Writes `text` one byte every `everyMs` until it is sent or the connection closes. */
export function trickle(conn: RawConnection, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (conn.isClosed() || i >= text.length) return clearInterval(timer);
    conn.socket.write(text[i++]!);
  }, everyMs);
}

/** Resolves with `value` after `ms`, for racing a promise against a generous bound. */
export function after<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

/** A POST that declares `length` bytes of body and sends only `sent` of them. */
export function slowBodyHead(port: number, path: string, length: number, sent: string, headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return `POST ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n${sent}`;
}
