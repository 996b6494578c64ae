import { errorId, log } from "./lib/log.ts";

/**
 * The one shared error kernel. Every failure a user can see carries a stable code (the README's
 * Errors table lists each, with when it is answered); adapters map it once (mcp/errors.ts → tool error text, http/errors.ts → an HTTP
 * answer). Each code's HTTP status is here, beside the code; only http/errors.ts answers with it.
 */
export const ERROR_CODES = {
  INVALID_REQUEST: 400,
  UNAUTHENTICATED: 401,
  CHANNEL_NOT_FOUND: 404,
  NOT_MEMBER: 403,
  NOT_ADMIN: 403,
  INVITE_INVALID: 400,
  SLOT_ALREADY_FILLED: 409,
  BOT_NOT_FOUND: 404,
  BOT_ERROR: 500,
  CHANNEL_CLOSED: 409,
  RATE_LIMITED: 429,
  FORBIDDEN: 403,
  UPSTREAM_UNAVAILABLE: 503,
  /** The database cannot be written or read (disk full, read-only, corrupt, I/O error); the cause is in the log. */
  STORAGE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Seconds a client should wait before retrying a 503 (a full disk needs an operator, not a tight loop). */
export const RETRY_AFTER_SECONDS = 10;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly detail?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; detail?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.detail = options.detail;
  }

  /** Wire text: the code first, then the message (deno std grammar). */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** Whether a code is the server's failure, not the request's (a 5xx): JSON-RPC answers it as an internal error. */
export function isServerFailure(code: ErrorCode): boolean {
  return ERROR_CODES[code] >= 500;
}

/**
 * Any thrown value as the AppError a client is given (each edge calls this once per failure).
 * An unexpected error becomes INTERNAL_ERROR with nothing of it leaked, and is logged here, once,
 * under a new error id that its message carries: the client quotes the id, the operator finds the
 * line (the stack only at --log-level debug). `where` says what failed (a tool, an endpoint).
 */
export function toAppError(err: unknown, where?: string): AppError {
  if (err instanceof AppError && (err.code !== "INTERNAL_ERROR" || err.detail?.error_id)) return err;
  const id = errorId();
  log.error("internal error", { error_id: id, where, err });
  const message = err instanceof AppError ? err.message : "Unexpected server error";
  return new AppError("INTERNAL_ERROR", `${message} (error ${id})`, { cause: err, detail: { error_id: id } });
}
