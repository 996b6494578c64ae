import { randomBytes } from "node:crypto";
import { writeSync } from "node:fs";
import { escapeControl, printable } from "./printable.ts";

/**
 * The server's log: one line per event on stderr, `text` (`TIME LEVEL msg key=value …`, for a
 * terminal or journald) or `json` (one object per line, for a collector). Domain-free: callers
 * pass flat fields, and never a request body, a token or a query string.
 */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Field values: scalars; `err` takes any thrown value (its message, and its stack at debug). */
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const LABEL = ["ERROR", "WARN ", "INFO ", "DEBUG"];
/** A field longer than this is cut (a bot's error message, a client's name): a line stays a line. */
const MAX_VALUE_CHARS = 1024;
/** Lines wait for the end of the event-loop turn and go out in one write, unless this much is waiting. */
const MAX_PENDING_CHARS = 64 * 1024;

export interface LogOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where finished lines go (tests capture them); default stderr. */
  sink?: (text: string) => void;
}

export class Logger {
  private rank = RANK.info;
  private format: LogFormat = "text";
  private sink: (text: string) => void = writeStderr;
  private pending = "";
  private scheduled = false;
  /** The last line's time: lines of the same millisecond (many, under load) share one ISO string. */
  private lastMs = 0;
  private lastTime = "";

  configure(options: LogOptions): void {
    this.flush();
    if (options.level) this.rank = RANK[options.level];
    if (options.format) this.format = options.format;
    if (options.sink) this.sink = options.sink;
  }

  /** The current settings (a test that captures lines puts them back after). */
  options(): Required<LogOptions> {
    return { level: LOG_LEVELS[this.rank]!, format: this.format, sink: this.sink };
  }

  /** Whether a line of this level would be written (to skip preparing one that would not). */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.rank;
  }

  error(msg: string, fields?: LogFields): void {
    this.emit(0, msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit(1, msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.emit(2, msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.emit(3, msg, fields);
  }

  /** Writes what is waiting now (at shutdown, before a fatal line, and on process exit). */
  flush(): void {
    this.scheduled = false;
    if (!this.pending) return;
    const text = this.pending;
    this.pending = "";
    this.sink(text);
  }

  private emit(rank: number, msg: string, fields?: LogFields): void {
    if (rank > this.rank) return;
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastTime = new Date(now).toISOString();
    }
    const time = this.lastTime;
    const stack = this.rank === RANK.debug && fields && "err" in fields ? stackOf(fields.err) : undefined;
    this.pending += this.format === "json" ? jsonLine(time, LOG_LEVELS[rank]!, msg, fields, stack) : textLine(time, LABEL[rank]!, msg, fields, stack);
    // Errors go out at once (the process may be about to die); the rest once per turn, in one write.
    if (rank === 0 || this.pending.length > MAX_PENDING_CHARS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.scheduled && this.flush());
    }
  }
}

/**
 * The process's one log: stderr is one per process, and level and format are set once from the
 * config before the server listens (cli/serve.ts).
 */
export const log = new Logger();
process.once("exit", () => log.flush());

/** An id for one failure, given to the client and written in the log line that explains it. */
export function errorId(): string {
  return `err_${randomBytes(4).toString("hex")}`;
}

/**
 * Who, in a log line: enough of a principal to follow one caller through the log and find it in
 * the database (`usr_AbCd1234`, `agent:NAME`), not the whole identifier.
 */
export function shortId(principal: string): string {
  if (principal.startsWith("agent:")) return principal.slice(0, 70);
  const cut = principal.search(/[_:]/) + 1;
  return principal.slice(0, cut + 8);
}

function writeStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // A closed or broken stderr must not take a request down with it.
  }
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return `${err.name}${typeof code === "string" && code !== err.name ? ` (${code})` : ""}: ${err.message}`;
}

function stackOf(err: unknown): string | undefined {
  if (!(err instanceof Error) || !err.stack) return undefined;
  const cause = err.cause instanceof Error && err.cause.stack ? `\ncaused by: ${err.cause.stack}` : "";
  return err.stack + cause;
}

function valueOf(key: string, value: unknown): string | number | boolean | null {
  if (key === "err") return cap(errorText(value));
  if (typeof value === "number" || typeof value === "boolean" || value === null) return value;
  return cap(String(value));
}

const cap = (s: string) => (s.length > MAX_VALUE_CHARS ? `${s.slice(0, MAX_VALUE_CHARS)}…` : s);

/** Bare when it cannot be misread, else JSON-quoted: a value never ends its line or forges a field. */
const BARE = /^[^\s"=\\\x00-\x1f\x7f-\x9f\u2028\u2029]+$/;

/** JSON-quoted, and the line breaks and C1 controls JSON leaves raw escaped too (some viewers break lines at them). */
const quoted = (value: string) => JSON.stringify(value).replace(/[\x7f-\x9f\u2028\u2029]/g, escapeControl);

function textLine(time: string, label: string, msg: string, fields: LogFields | undefined, stack: string | undefined): string {
  let line = `${time} ${label} ${msg}`;
  if (fields) {
    for (const key in fields) {
      const raw = fields[key];
      if (raw === undefined) continue;
      const value = valueOf(key, raw);
      const name = key === "err" ? "error" : key;
      line += typeof value === "string" && !BARE.test(value) ? ` ${name}=${quoted(value)}` : ` ${name}=${value}`;
    }
  }
  // Indented, with no control character left raw: a stack never starts a line of its own.
  if (stack) line += `\n${printable(stack).replace(/^\s*/gm, "    ")}`;
  return `${line}\n`;
}

function jsonLine(time: string, level: string, msg: string, fields: LogFields | undefined, stack: string | undefined): string {
  const entry: Record<string, unknown> = { time, level, msg };
  if (fields) {
    for (const key in fields) {
      const raw = fields[key];
      if (raw !== undefined) entry[key === "err" ? "error" : key] = valueOf(key, raw);
    }
  }
  if (stack) entry.stack = stack;
  return `${JSON.stringify(entry)}\n`;
}
