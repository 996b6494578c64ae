import { chmodSync, unlinkSync } from "node:fs";
import { AppError } from "../errors.ts";
import { log } from "../lib/log.ts";

/** What the running server does for an operator command. */
export interface AdminHandlers {
  /** `parley channels close`. */
  closeChannel(channelId: string): Promise<void>;
  /** `parley upstream approve`: approves the held tool definitions of an upstream (or of one of its tools); what it approved. */
  approveUpstream?(server: string, tool: string | null): Promise<unknown[]>;
  /** `parley status`: the server's state, as JSON. */
  status?(): unknown;
  /** `parley token revoke`: the grant changed, so its open sessions are told their tools did. */
  grantChanged?(grantId: string): void;
}

/** The answer on the admin socket: the command's outcome (with its result), or its stable code on failure. */
export type AdminAnswer = { ok: true; result?: unknown } | { ok: false; code: string; message: string };

/** A command for the running server (askAdmin). */
export type AdminCommand = { closeChannel: string } | { status: true } | { grantChanged: string } | { approveUpstream: string; tool?: string | null };

const CLOSE = /^\/channels\/([^/]+)\/close$/;
const GRANT = /^\/grants\/([^/]+)\/changed$/;
const APPROVE = /^\/upstreams\/([^/]+)\/approve$/;

/**
 * Operator commands that must run inside the server, on a Unix socket (`parley channels close`,
 * `parley status`, `parley upstream approve`, and `parley token revoke` telling the server a grant changed): while a server runs it is
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
      const path = url.pathname;
      const approve = request.method === "POST" ? APPROVE.exec(path) : null;
      const close = request.method === "POST" ? CLOSE.exec(path) : null;
      const grant = request.method === "POST" ? GRANT.exec(path) : null;
      try {
        if (close) {
          await handlers.closeChannel(decodeURIComponent(close[1]!));
          return Response.json({ ok: true } satisfies AdminAnswer);
        }
        if (grant && handlers.grantChanged) {
          handlers.grantChanged(decodeURIComponent(grant[1]!));
          return Response.json({ ok: true } satisfies AdminAnswer);
        }
        if (approve && handlers.approveUpstream) {
          const approved = await handlers.approveUpstream(decodeURIComponent(approve[1]!), url.searchParams.get("tool"));
          return Response.json({ ok: true, result: approved } satisfies AdminAnswer);
        }
        if (request.method === "GET" && path === "/status" && handlers.status) return Response.json({ ok: true, result: handlers.status() } satisfies AdminAnswer);
        return Response.json({ ok: false, code: "INVALID_REQUEST", message: "Unknown admin command" } satisfies AdminAnswer, { status: 404 });
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
  const [method, path] = adminRequest(command);
  const res = await fetch(`http://parley${path}`, { method, unix: socket });
  return (await res.json()) as AdminAnswer;
}

function adminRequest(command: AdminCommand): [method: string, path: string] {
  if ("closeChannel" in command) return ["POST", `/channels/${encodeURIComponent(command.closeChannel)}/close`];
  if ("grantChanged" in command) return ["POST", `/grants/${encodeURIComponent(command.grantChanged)}/changed`];
  if ("approveUpstream" in command) {
    return ["POST", `/upstreams/${encodeURIComponent(command.approveUpstream)}/approve${command.tool ? `?tool=${encodeURIComponent(command.tool)}` : ""}`];
  }
  return ["GET", "/status"];
}
