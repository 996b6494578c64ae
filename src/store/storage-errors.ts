import { AppError } from "../errors.ts";
import { errorId, log } from "../lib/log.ts";

/**
 * SQLite result codes that mean the storage failed, not the request (https://sqlite.org/rescode.html),
 * with the words a user reads. bun:sqlite puts the extended code name in `code` (SQLITE_IOERR_WRITE).
 * Anything else (SQLITE_CONSTRAINT, SQLITE_ERROR, …) is a bug and stays INTERNAL_ERROR.
 */
const KINDS: [RegExp, string][] = [
  [/^SQLITE_FULL/, "disk full"],
  [/^SQLITE_READONLY/, "read-only"],
  [/^SQLITE_(CORRUPT|NOTADB)/, "database corrupt"],
  [/^SQLITE_IOERR/, "I/O error"],
  [/^SQLITE_CANTOPEN/, "cannot open the database file"],
  [/^SQLITE_(BUSY|LOCKED)/, "database locked by another process"],
  [/^SQLITE_(PERM|AUTH)/, "access denied"],
  [/^SQLITE_PROTOCOL/, "file locking failed"],
  [/^SQLITE_NOLFS/, "file too large"],
];

/** What went wrong with the storage, or null when `err` is not a storage failure. */
export function storageKind(err: unknown): string | null {
  const code = sqliteCode(err);
  return code ? (KINDS.find(([re]) => re.test(code))?.[1] ?? null) : null;
}

function sqliteCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : null;
}

/**
 * The open failure episode. A full disk fails every write until someone frees space: the first
 * failure is logged with an id, and the same cause within a minute reuses that id and only counts,
 * so the log gets a line a minute instead of one per request.
 */
const REPEAT_WINDOW_MS = 60_000;
let episode: { code: string; id: string; since: number; repeats: number } | null = null;

/** Runs `fn` (SQLite work on `file`); a storage failure it throws becomes STORAGE_UNAVAILABLE (storageFailure). */
export function guardStorage<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storageFailure(err, file);
  }
}

/**
 * A storage failure as `STORAGE_UNAVAILABLE` (HTTP 503) carrying a short error id, its cause
 * logged once under that id; any other error is returned unchanged.
 */
export function storageFailure(err: unknown, file: string): unknown {
  if (err instanceof AppError) return err;
  const kind = storageKind(err);
  if (!kind) return err;
  const code = sqliteCode(err)!;
  const now = Date.now();
  if (episode && episode.code === code && now - episode.since < REPEAT_WINDOW_MS) {
    episode.repeats++;
  } else {
    endEpisode("then");
    episode = { code, id: errorId(), since: now, repeats: 0 };
    log.error("storage error", { error_id: episode.id, kind, file, code, error: (err as Error).message });
  }
  return new AppError("STORAGE_UNAVAILABLE", `Storage unavailable (${kind}); nothing was changed, try again later (error ${episode.id})`, {
    cause: err,
    detail: { error_id: episode.id },
  });
}

/** After a successful COMMIT: closes a failure episode in the log, so the operator sees when it ended. */
export function storageRecovered(): void {
  if (episode) endEpisode("now");
}

/** Warn, not info: whoever watches for the error line sees its end at the same level. */
function endEpisode(when: "then" | "now"): void {
  if (!episode) return;
  const { id: error_id, repeats } = episode;
  if (when === "now") log.warn("storage works again", { error_id, repeats });
  else if (repeats > 0) log.warn("storage error repeated", { error_id, repeats });
  episode = null;
}

/**
 * A failure while opening the database at start-up as one line naming the file and what to do
 * (main prints it and exits 2). Errors that are not about storage pass through unchanged.
 */
export function openFailure(err: unknown, file: string): unknown {
  if (err instanceof AppError) return err;
  const sqlite = sqliteCode(err);
  const code = sqlite ?? (err as NodeJS.ErrnoException | null)?.code ?? "";
  const why = `${code}: ${(err as Error | null)?.message ?? String(err)}`;
  const say = (text: string) => new AppError("STORAGE_UNAVAILABLE", text, { cause: err });
  if (/^SQLITE_(CORRUPT|NOTADB)/.test(code)) return corrupt(file, why);
  if (/^SQLITE_FULL|^ENOSPC|^EDQUOT/.test(code)) return say(`database ${file} cannot be written: the disk is full (${why}); free some space, then start again`);
  if (/^SQLITE_READONLY|^EROFS/.test(code)) {
    return say(`database ${file} is read-only (${why}); give the user running parley write access to it, its directory and its -wal and -shm files`);
  }
  if (/^SQLITE_CANTOPEN|^EACCES|^EPERM/.test(code)) {
    return say(`cannot open database ${file} (${why}); check that it and its directory exist and are readable and writable by the user running parley (a read-only file system also gives this)`);
  }
  if (/^SQLITE_IOERR|^EIO/.test(code)) return say(`I/O error on database ${file} (${why}); check the disk (e.g. dmesg) before starting again`);
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) return say(`database ${file} is locked by another process (${why}); stop it, then start again`);
  if (sqlite && storageKind(err)) return say(`database ${file} is unavailable (${why})`);
  return err;
}

/** The one line for a corrupt database file. */
export function corrupt(file: string, why: string): AppError {
  return new AppError(
    "STORAGE_UNAVAILABLE",
    `database ${file} is corrupt (${why}); stop here and restore it from a backup, or move it and its -wal and -shm files aside to start with an empty one`,
  );
}
