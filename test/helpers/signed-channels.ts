import * as channels from "../../src/channels/index.ts";
import { SqliteStore } from "../../src/store/index.ts";
import { ed25519Signer } from "../../src/transcript/index.ts";
import { tempDir } from "./temp-dir.ts";

/**
 * A channels context on a real SQLite file in a temp dir, with a fresh Ed25519 signer (so
 * transcripts can be signed and verified): `using env = await signedChannels(limits)`.
 */
export async function signedChannels(limits: channels.ChannelsContext["limits"]) {
  const dir = tempDir();
  const store = new SqliteStore(dir.path);
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const { x } = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as { x: string };
  const ctx: channels.ChannelsContext = {
    store,
    notifier: new channels.Notifier(),
    limits,
    signer: ed25519Signer(pair.privateKey, "k1", { kty: "OKP", crv: "Ed25519", x }),
    issuer: "http://localhost:8201",
  };
  return {
    ctx,
    store,
    [Symbol.dispose]() {
      store.close();
      dir[Symbol.dispose]();
    },
  };
}
