import { timingSafeEqual } from "node:crypto";

/** SHA-256 helpers. Secrets are stored as sha256 hex and looked up by that hash. */
export function sha256Hex(data: string | Uint8Array): string {
  // The one-shot hasher: no hasher object per call (0.22 µs against 0.34 µs for a post's chain input).
  return Bun.SHA256.hash(data, "hex");
}

/**
 * Whether two strings are equal, in time that does not depend on where they differ (CWE-208), for
 * a secret or its hash against what was stored. Strings of different lengths are unequal at once,
 * so compare hashes where a secret's length is itself secret (a passcode).
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
