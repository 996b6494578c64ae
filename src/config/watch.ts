import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { log } from "../lib/log.ts";

/** Changes closer together than this are one change (an editor writes, renames and touches a file in a burst). */
const SETTLE_MS = 250;

/**
 * Calls `onChange` once after the file at `path` changes, is replaced or reappears. The directory
 * is watched, not the file: editors save by writing a new file and renaming it over the old one,
 * which a watch on the old file (its inode) never sees again.
 */
export function watchConfigFile(path: string, onChange: () => void, settleMs = SETTLE_MS): { close(): void } {
  const file = basename(path);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(resolve(path)), { persistent: false }, (_event, name) => {
      // Some platforms do not say which file changed: take it as this one.
      if (name !== null && name !== file) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, settleMs);
    });
    watcher.on("error", (err) => log.warn("cannot watch the config file any more; reload with SIGHUP", { path, err: err.message }));
  } catch (err) {
    log.warn("cannot watch the config file; reload with SIGHUP", { path, err: (err as Error).message });
  }
  return {
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
