/** What eviction reads of a session. */
interface Evictable {
  subject: string | null;
  address: string;
  lastSeen: number;
}

/**
 * The address a session counts against. One IPv6 host holds a whole /64 (RFC 4291 §2.5.1: the
 * interface identifier is the low 64 bits, and a client may pick any), so a flood from one host
 * must not look like 2^64 callers; an IPv4-mapped address is its IPv4 address.
 */
export function addressGroup(address: string): string {
  const plain = address.replace(/%.*$/, "").toLowerCase();
  if (!plain.includes(":")) return plain;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  if (mapped) return mapped[1]!;
  const [head = "", tail] = plain.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/**
 * The session to close when the table is full: from the address holding the most sessions, and
 * within it from the identities holding the most there, the least recently used. A flood of
 * sign-ins from one place (each sign-in a new identity) then evicts its own sessions, and a
 * user's idle session or long poll from elsewhere survives it. Runs only at the cap, so a scan.
 */
export function floodVictim(sessions: Map<string, Evictable>, perAddress: Map<string, number>): string | undefined {
  let address: string | undefined;
  let most = 0;
  for (const [a, n] of perAddress) {
    if (n > most) [address, most] = [a, n];
  }
  const perSubject = new Map<string | null, number>();
  for (const s of sessions.values()) if (s.address === address) perSubject.set(s.subject, (perSubject.get(s.subject) ?? 0) + 1);
  let heaviest = 0;
  for (const n of perSubject.values()) heaviest = Math.max(heaviest, n);
  let victim: [string, Evictable] | undefined;
  for (const entry of sessions) {
    const s = entry[1];
    if (s.address !== address || perSubject.get(s.subject) !== heaviest) continue;
    if (!victim || s.lastSeen < victim[1].lastSeen) victim = entry;
  }
  return victim?.[0];
}
