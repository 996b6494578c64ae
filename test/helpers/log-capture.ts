import { log, type LogLevel } from "../../src/lib/log.ts";

export interface CapturedLog extends Disposable {
  /** Every entry written so far (JSON format), oldest first. */
  entries(): Record<string, unknown>[];
}

/**
 * The in-process log captured as JSON entries at `level` (default debug) until disposed:
 * `using captured = captureLog()`. The settings before are restored on dispose.
 */
export function captureLog(level: LogLevel = "debug"): CapturedLog {
  const before = log.options();
  let text = "";
  log.configure({ level, format: "json", sink: (t) => (text += t) });
  return {
    entries() {
      log.flush();
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    [Symbol.dispose]() {
      log.configure(before);
    },
  };
}
