import { canonicalJson } from "../lib/canonical-json.ts";
import type { Transcript, TranscriptSignature, UnsignedTranscript } from "./types.ts";

/** A transcript without its messages: what the signature covers besides their number and the last id. */
export type TranscriptHeader = Omit<UnsignedTranscript, "messages">;

/**
 * What the server signs: everything but the messages themselves, which the head commits to
 * through the hash chain. Redaction of private messages therefore never breaks the signature.
 */
export function signaturePayload(t: UnsignedTranscript | Transcript): Uint8Array {
  const { messages, signature: _signature, ...header } = t as Transcript;
  return headerPayload(header, messages.length, messages.at(-1)?.id ?? 0);
}

/**
 * The same payload from the header alone, for a transcript that is never whole in the server's
 * memory (streamed, or handed out in pages): `messageCount` messages, the last one `lastId`.
 */
export function headerPayload(header: TranscriptHeader, messageCount: number, lastId: number): Uint8Array {
  return new TextEncoder().encode(canonicalJson({ ...header, message_count: messageCount, last_id: lastId }));
}

/** Produces the signature block; the key never leaves whoever implements it (src/auth's Ed25519 key). */
export type TranscriptSigner = (payload: Uint8Array) => Promise<TranscriptSignature>;

export async function signTranscript(unsigned: UnsignedTranscript, signer: TranscriptSigner): Promise<Transcript> {
  return { ...unsigned, signature: await signer(signaturePayload(unsigned)) };
}

const b64url = {
  encode: (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
  decode: (text: string) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
};

/** A signer over a WebCrypto Ed25519 private key. */
export function ed25519Signer(privateKey: CryptoKey, kid: string, publicJwk: TranscriptSignature["jwk"]): TranscriptSigner {
  return async (payload) => ({
    alg: "EdDSA",
    kid,
    jwk: { kty: "OKP", crv: "Ed25519", x: publicJwk.x },
    value: b64url.encode(new Uint8Array(await crypto.subtle.sign("Ed25519", privateKey, payload as BufferSource))),
  });
}

export async function verifySignature(t: Transcript, jwk: { x: string }): Promise<boolean> {
  const key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify("Ed25519", key, b64url.decode(t.signature.value) as BufferSource, signaturePayload(t) as BufferSource);
}
