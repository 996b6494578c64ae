import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import { chmodSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { AppError } from "../errors.ts";

/** The server's Ed25519 signing key: signs access tokens, agent tokens and (later) transcripts. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export const SIGNING_ALG = "EdDSA";

/** RFC 8037 §2: an Ed25519 private key as a JWK. */
const PrivateJwkSchema = z.looseObject({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string().min(1), d: z.string().min(1) });

/**
 * Loads `DATA/keys/ed25519.jwk`, creating it (0600, in a 0700 dir) on the server's first start
 * (`create`; other commands never make one). A file that is there but unreadable or not a working
 * key stops the start with one line naming it: a new key in its place would silently invalidate
 * every token and signed transcript issued so far.
 */
export async function loadSigningKey(dataDir: string, { create = true }: { create?: boolean } = {}): Promise<SigningKey> {
  const dir = resolve(dataDir, "keys");
  const file = resolve(dir, "ed25519.jwk");
  let text: string;
  if (!create && !existsSync(file)) {
    throw new AppError("STORAGE_UNAVAILABLE", `no key file at ${file} (the server makes it on its first start); restore it from a backup, or pass the server's --data`);
  }
  try {
    if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(file)) await createKeyFile(file);
    // Only when needed: on a read-only file system a chmod fails even if nothing is wrong.
    if ((statSync(file).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("STORAGE_UNAVAILABLE", `key file ${file} cannot be read (${errnoText(err)}); give the user running parley access to it, or restore it from a backup`, { cause: err });
  }
  try {
    const jwk = PrivateJwkSchema.parse(JSON.parse(text)) as JWK;
    const { d: _private, ...publicPart } = jwk;
    const kid = await calculateJwkThumbprint(publicPart);
    const key: SigningKey = {
      kid,
      privateKey: (await importJWK({ ...jwk, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey,
      publicKey: (await importJWK({ ...publicPart, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey,
      publicJwk: { ...publicPart, kid, alg: SIGNING_ALG, use: "sig" },
    };
    // A private half that does not match the published one would sign tokens nobody can verify.
    const probe = new TextEncoder().encode("parley key check");
    if (!(await crypto.subtle.verify("Ed25519", key.publicKey, await crypto.subtle.sign("Ed25519", key.privateKey, probe), probe))) {
      throw new Error("its private half does not match its public half");
    }
    return key;
  } catch (err) {
    const why = err instanceof z.ZodError ? `${err.issues[0]?.path.join(".") || "key"}: ${err.issues[0]?.message}` : err instanceof Error ? err.message : String(err);
    throw new AppError(
      "STORAGE_UNAVAILABLE",
      `key file ${file} is not a usable Ed25519 private key (${why}); restore it from a backup. Only if it is lost for good, move it aside: a new key is then made, and every token and signed transcript issued before stops verifying`,
      { cause: err },
    );
  }
}

/**
 * Writes a new key to a temporary file, flushes it to disk, then links it into place: the key
 * file appears whole or not at all, even if the disk fills up or the machine stops half-way. The
 * link fails if another process (a server from before the data directory's lock) won the race:
 * then its key is kept.
 */
async function createKeyFile(file: string): Promise<void> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { crv: "Ed25519", extractable: true });
  const jwk = await exportJWK(privateKey);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, JSON.stringify(jwk));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  } catch (err) {
    throw new AppError("STORAGE_UNAVAILABLE", `key file ${file} cannot be written (${errnoText(err)}); check that the disk has room and the data directory is writable`, { cause: err });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Not created, or already gone.
    }
  }
}

/** Node's fs messages already start with the code ("EACCES: permission denied, open …"). */
function errnoText(err: unknown): string {
  const { code, message } = err as NodeJS.ErrnoException;
  return code && !message.startsWith(code) ? `${code}: ${message}` : message;
}

export function jwks(key: SigningKey): { keys: JWK[] } {
  return { keys: [key.publicJwk] };
}
