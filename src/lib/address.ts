/**
 * The key one client counts under in per-address limits (rate limits, requests in progress,
 * session eviction). One IPv6 host holds a whole /64 (RFC 4291 §2.5.1: the interface identifier is
 * the low 64 bits, and a client may pick any), so it must not look like 2^64 callers; an
 * IPv4-mapped IPv6 address is its IPv4 address; an IPv4 address is itself.
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

/** This machine's loopback names as URL hostnames give them (an IPv6 literal in brackets). */
export const LOOPBACK_HOSTNAMES = ["localhost", "127.0.0.1", "[::1]"] as const;
const LOOPBACK = new Set<string>([...LOOPBACK_HOSTNAMES, "::1"]);

/**
 * Whether a host names this machine's loopback interface: a URL hostname or a Host header's name,
 * or a `--host` value (where IPv6 comes bare). Only these spellings; other 127/8 addresses are
 * loopback too but no client uses them to reach a local server.
 */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host);
}
