import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The server's Ed25519 signing key: signs access tokens, agent tokens and (later) transcripts. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export const SIGNING_ALG = "EdDSA";

/** Loads `DATA/keys/ed25519.jwk`, creating it (0600, in a 0700 dir) on first start. */
export async function loadSigningKey(dataDir: string): Promise<SigningKey> {
  const dir = join(dataDir, "keys");
  const file = join(dir, "ed25519.jwk");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) {
    const { privateKey } = await generateKeyPair(SIGNING_ALG, { crv: "Ed25519", extractable: true });
    const jwk = await exportJWK(privateKey);
    try {
      // wx: if another process (e.g. `parley token issue` beside a running server) won the race, keep its key.
      writeFileSync(file, JSON.stringify(jwk), { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  chmodSync(file, 0o600);
  const jwk = JSON.parse(readFileSync(file, "utf8")) as JWK;
  const { d: _private, ...publicPart } = jwk;
  const kid = await calculateJwkThumbprint(publicPart);
  return {
    kid,
    privateKey: (await importJWK({ ...jwk, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey,
    publicKey: (await importJWK({ ...publicPart, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey,
    publicJwk: { ...publicPart, kid, alg: SIGNING_ALG, use: "sig" },
  };
}

export function jwks(key: SigningKey): { keys: JWK[] } {
  return { keys: [key.publicJwk] };
}
