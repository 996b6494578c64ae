import { chmodSync, unlinkSync } from "node:fs";
import { AppError } from "../errors.ts";
import { log } from "../lib/log.ts";

/** What the running server does for an operator command (`parley channels close`, `parley upstream approve`). */
export interface AdminHandlers {
  closeChannel(channelId: string): Promise<void>;
  /** Approves the held tool definitions of an upstream (or of one of its tools); what it approved, as JSON. */
  approveUpstream(server: string, tool: string | null): Promise<unknown[]>;
}

/** The answer on the admin socket: the command's outcome (and what it did), with its stable code on failure. */
export type AdminAnswer = { ok: true; approved?: unknown[] } | { ok: false; code: string; message: string };

/** An operator command as the socket carries it. */
export type AdminCommand = { closeChannel: string } | { approveUpstream: string; tool?: string | null };

const CLOSE = /^\/channels\/([^/]+)\/close$/;
const APPROVE = /^\/upstreams\/([^/]+)\/approve$/;

/**
 * Operator commands that must run inside the server, on a Unix socket: while a server runs it is
 * the only process that may change channels (its store keeps channel records, the chain head and
 * the next message id in memory, and wakes the channel's long polls), so `parley channels close`
 * asks it here instead of writing the database itself. Whoever may connect may write the data
 * directory the socket lives in (made 0700), and the socket itself is 0600 whatever the umask
 * (connecting needs write permission on it): no token, no TCP port. A stale socket (a server
 * killed with SIGKILL) is replaced: the caller holds the data directory's lock.
 */
export function serveAdmin(path: string, handlers: AdminHandlers): { stop(): void } {
  try {
    unlinkSync(path);
  } catch {
    // None left over.
  }
  const server = Bun.serve({
    unix: path,
    development: false,
    async fetch(request) {
      const url = new URL(request.url);
      const close = request.method === "POST" ? CLOSE.exec(url.pathname) : null;
      const approve = request.method === "POST" ? APPROVE.exec(url.pathname) : null;
      if (!close && !approve) return Response.json({ ok: false, code: "INVALID_REQUEST", message: "Unknown admin command" } satisfies AdminAnswer, { status: 404 });
      try {
        if (approve) {
          const approved = await handlers.approveUpstream(decodeURIComponent(approve[1]!), url.searchParams.get("tool"));
          return Response.json({ ok: true, approved } satisfies AdminAnswer);
        }
        await handlers.closeChannel(decodeURIComponent(close![1]!));
        return Response.json({ ok: true } satisfies AdminAnswer);
      } catch (err) {
        if (err instanceof AppError) return Response.json({ ok: false, code: err.code, message: err.message } satisfies AdminAnswer, { status: 400 });
        log.error("admin command failed", { err });
        return Response.json({ ok: false, code: "INTERNAL_ERROR", message: "Unexpected server error (see the server's log)" } satisfies AdminAnswer, { status: 500 });
      }
    },
  });
  chmodSync(path, 0o600);
  return {
    stop() {
      void server.stop(true);
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}

/** Sends an operator command to the running server's admin socket; its answer, or a connection error. */
export async function askAdmin(socket: string, command: AdminCommand): Promise<AdminAnswer> {
  const path =
    "closeChannel" in command
      ? `/channels/${encodeURIComponent(command.closeChannel)}/close`
      : `/upstreams/${encodeURIComponent(command.approveUpstream)}/approve${command.tool ? `?tool=${encodeURIComponent(command.tool)}` : ""}`;
  const res = await fetch(`http://parley${path}`, { method: "POST", unix: socket });
  return (await res.json()) as AdminAnswer;
}
