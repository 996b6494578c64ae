import { BlockList, isIP } from "node:net";

/** The resolved address, kept on the request: the admission check and the handlers ask for it. */
const RESOLVED = Symbol("parley.clientAddress");
type Resolved = Request & { [RESOLVED]?: string };

/**
 * The address a request is counted against (per-address caps, passcode attempts, session fairness):
 * the TCP peer, or, when the peer is one of `trustedProxies`, the client it forwards for. The proxy
 * appends the address it saw to X-Forwarded-For, so the header is read from the right, skipping our
 * own proxies; anything further left was written by the client and is not to be believed (RFC 7239
 * §8.1: any node on the way may have modified it). A hop that is not an IP address ends the walk
 * at the proxy that forwarded it. `peerAddress` gives the TCP peer (Bun's `server.requestIP`).
 */
export function createClientAddress(trustedProxies: readonly string[], peerAddress: (request: Request) => string | undefined) {
  const proxies = trustedProxyList(trustedProxies);
  const trusted = (address: string) => proxies.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");

  function resolve(request: Request): string {
    const peer = unmapped(peerAddress(request) ?? "unknown");
    if (trustedProxies.length === 0 || !trusted(peer)) return peer;
    const forwarded = request.headers.get("x-forwarded-for");
    if (!forwarded) return peer;
    const hops = forwarded.split(",");
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmapped(hops[i]!.trim());
      if (isIP(hop) === 0) break;
      client = hop;
      if (!trusted(hop)) break;
    }
    return client;
  }

  return function clientAddress(request: Request): string {
    return ((request as Resolved)[RESOLVED] ??= resolve(request));
  };
}

/** Config entries (addresses or CIDR blocks, already validated by the config schema) as a BlockList. */
function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split("/") as [string, string | undefined];
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** One client, one address: an IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d. */
function unmapped(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
