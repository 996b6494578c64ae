import { canonicalJson } from "../lib/canonical-json.ts";

/**
 * The hash chain of every channel's log (src/transcript/README.md), as plain strings so the server (Bun's hasher, sync) and any
 * verifier (WebCrypto, async, also in a browser) hash exactly the same bytes.
 *
 *   genesis  = SHA-256("parley:genesis:" + channel_id)
 *   hash(m)  = SHA-256(prev_hash + "\n" + RFC 8785 canonical JSON of m without `hash`)
 */
export function genesisInput(channelId: string): string {
  return `parley:genesis:${channelId}`;
}

export function chainInput(prevHash: string, message: Record<string, unknown>): string {
  // The server seals messages before they have a hash: no copy on that path (one per post).
  if (!("hash" in message)) return `${prevHash}\n${canonicalJson(message)}`;
  const { hash: _ignored, ...unsealed } = message;
  return `${prevHash}\n${canonicalJson(unsealed)}`;
}

/** SHA-256 hex with WebCrypto (browser-safe). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
