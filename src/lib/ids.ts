/** Prefixed random identifiers and secrets. 16 random bytes = 128 bits, base64url without padding. */
export function randomToken(prefix: string, bytes = 16): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return `${prefix}_${Buffer.from(buf).toString("base64url")}`;
}

export const newChannelId = () => randomToken("chn");
/** Invite codes and rejoin tokens are secrets: 160 bits, stored only as SHA-256. */
export const newInviteCode = () => randomToken("inv", 20);
export const newRejoinToken = () => randomToken("rejoin", 20);
