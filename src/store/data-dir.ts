import { accessSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { AppError } from "../errors.ts";

export const DATABASE_FILE = "parley.db";

/**
 * The absolute data directory a server runs on, created (0700) if missing. One that cannot be used
 * (a file, no permission to create or write it) stops the start with one line naming it and what
 * to do, before anything is written.
 */
export function prepareDataDir(path: string): string {
  const dir = resolve(path);
  const fail = (text: string, cause?: unknown) => new AppError("STORAGE_UNAVAILABLE", text, { cause });
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fail(`cannot use data directory ${dir} (${errnoText(err)}); give the user running parley access to it, or pass another --data`, err);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw fail(`cannot create data directory ${dir} (${errnoText(cause)}); create it for the user running parley, or pass another --data`, cause);
    }
    return dir;
  }
  if (!isDirectory) throw fail(`data directory ${dir} is a file, not a directory; point --data (or data = in the config file) at a directory, which is created if missing`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw fail(`data directory ${dir} is not writable by this user (uid ${process.getuid?.() ?? "?"}: ${errnoText(err)}); give the user running parley write access to it, or pass another --data`, err);
  }
  return dir;
}

/**
 * The absolute data directory for a command other than `serve`, which never creates one: run from
 * the wrong directory, it would otherwise make a new key and print a token the server rejects.
 */
export function existingDataDir(path: string): string {
  const dir = resolve(path);
  if (!existsSync(resolve(dir, DATABASE_FILE))) throw new AppError("STORAGE_UNAVAILABLE", `no Parley data at ${dir}: pass the server's --data or --config`);
  return dir;
}

/** Node's fs messages already start with the code ("EACCES: permission denied, open …"). */
function errnoText(err: unknown): string {
  const { code, message } = err as NodeJS.ErrnoException;
  return code && !message.startsWith(code) ? `${code}: ${message}` : message;
}
