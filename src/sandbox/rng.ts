/**
 * The bot's randomness, drawn from its committed seed (`seed_commit` in bot:attach) so that `parley verify` can
 * re-draw it, in any language, from the seed revealed at close:
 *
 *   block(k) = SHA-256( "parley-rng-v1" ‖ seed (32 bytes) ‖ uint32be(stream) ‖ uint32be(k) ),  k = 0, 1, …
 *   words    = each block read as eight big-endian uint32, in order
 *   random() = ((w1 >>> 5) · 2^26 + (w2 >>> 6)) / 2^53                      (53 bits, as genrand_res53)
 *   randomInt(lo, hi), both ends included: draw x = (w1 >>> 5) · 2^26 + (w2 >>> 6) until
 *              x < 2^53 − (2^53 mod n) with n = hi − lo + 1, then lo + x mod n   (no modulo bias)
 *
 * SHA-256 in counter mode rather than a small PRNG (xoshiro, sfc32): those give their state away in a
 * few outputs, and a player who saw some dealt cards could then predict the rest of the deck.
 * The stream is the hook's sequence number, so every hook starts a fresh, independent stream and a
 * bot instance rebuilt after an error draws exactly what a replay draws.
 */
import { AppError } from "../errors.ts";

const DOMAIN = new TextEncoder().encode("parley-rng-v1");
const TWO_26 = 2 ** 26;
const TWO_53 = 2 ** 53;

export interface Rng {
  /** A float in [0, 1) with 53 random bits. */
  random(): number;
  /** An integer in [lo, hi], both ends included. */
  randomInt(lo: number, hi: number): number;
}

/** The 32-byte seed from its 64-hex-digit form (the form committed and revealed in the transcript). */
export function parseSeed(hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new AppError("INVALID_REQUEST", "Invalid bot seed: expected 64 lowercase hex digits");
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

export function createRng(seed: Uint8Array, stream: number): Rng {
  if (seed.length !== 32) throw new RangeError("The bot seed must be 32 bytes");
  if (!Number.isInteger(stream) || stream < 0 || stream > 0xffff_ffff) throw new RangeError("The stream must be a uint32");
  const input = new Uint8Array(DOMAIN.length + 32 + 8);
  input.set(DOMAIN, 0);
  input.set(seed, DOMAIN.length);
  const view = new DataView(input.buffer);
  view.setUint32(DOMAIN.length + 32, stream);
  let counter = 0;
  let block: DataView = new DataView(new ArrayBuffer(0));
  let next = 8; // words used from `block`; 8 = empty

  const word = (): number => {
    if (next === 8) {
      view.setUint32(DOMAIN.length + 36, counter++);
      const digest = new Bun.CryptoHasher("sha256").update(input).digest();
      block = new DataView(digest.buffer, digest.byteOffset, digest.byteLength);
      next = 0;
    }
    return block.getUint32(4 * next++);
  };
  const bits53 = () => (word() >>> 5) * TWO_26 + (word() >>> 6);

  return {
    random: () => bits53() / TWO_53,
    randomInt(lo, hi) {
      if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi || hi - lo + 1 > TWO_53) {
        throw new RangeError("randomInt(lo, hi) takes two safe integers with lo <= hi and at most 2^53 values");
      }
      const n = hi - lo + 1;
      const limit = TWO_53 - (TWO_53 % n);
      for (;;) {
        const x = bits53();
        if (x < limit) return lo + (x % n);
      }
    },
  };
}
