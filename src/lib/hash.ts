/** SHA-256 helpers. Secrets are stored as sha256 hex and looked up by that hash. */
export function sha256Hex(data: string | Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}
