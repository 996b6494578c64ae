import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { AppError } from "../errors.ts";
import { OperatorQueries } from "../store/index.ts";
import { openSigned, parseDataFlags } from "./data.ts";

const USAGE = "usage: parley backup NEW_DIR [--data DIR]";

/**
 * `parley backup NEW_DIR`: a new data directory holding a consistent copy of the database, taken
 * while the server runs (VACUUM INTO: one read transaction, so the copy is the database as of
 * one moment, whatever is written meanwhile), and the signing key. Without the key a restored
 * server would make a new one, and every token and signed transcript would stop verifying.
 * Restore: stop the server, then serve with `--data NEW_DIR` (or move it into place).
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const { args, config } = parseDataFlags(argv, env, {}, true);
  if (args.length !== 1) throw new AppError("INVALID_REQUEST", USAGE);
  // The key is checked too: a backup without a working key could not be restored.
  const data = await openSigned(config);
  const target = resolve(args[0]!);
  try {
    if (existsSync(target)) throw new AppError("INVALID_REQUEST", `backup target ${target} already exists; name a new directory`);
    try {
      mkdirSync(resolve(target, "keys"), { recursive: true, mode: 0o700 });
      // The database first: the key never changes once made, the database does.
      new OperatorQueries(data.store.db).backup(resolve(target, "parley.db"));
      copyFileSync(resolve(data.dir, "keys/ed25519.jwk"), resolve(target, "keys/ed25519.jwk"));
    } catch (err) {
      rmSync(target, { recursive: true, force: true });
      if (err instanceof AppError) throw err;
      throw new AppError("STORAGE_UNAVAILABLE", `cannot write the backup to ${target} (${(err as Error).message}); check that there is room and the directory is writable`, { cause: err });
    }
    process.stdout.write(`Backed up ${data.dir} to ${target} (parley.db and keys/); restore: stop the server, then parley serve --data ${target}\n`);
    return 0;
  } finally {
    data.close();
  }
}
