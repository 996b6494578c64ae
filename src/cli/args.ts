import { parseArgs, type ParseArgsConfig } from "node:util";
import { AppError } from "../errors.ts";

/** Strict flag parsing: an unknown or malformed flag is an INVALID_REQUEST (main prints one line, exit 2). */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (cause) {
    throw new AppError("INVALID_REQUEST", (cause as Error).message.split("\n")[0]!);
  }
}
