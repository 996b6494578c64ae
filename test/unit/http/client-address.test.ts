import { describe, expect, test } from "bun:test";
import { createClientAddress } from "../../../src/http/client-address.ts";

/** A request as it reaches the server from `peer`, with an optional X-Forwarded-For. */
function from(peer: string, forwardedFor?: string): [Request, string] {
  return [new Request("http://localhost/", { headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor } }), peer];
}

function resolverFor(trusted: string[]) {
  const peers = new WeakMap<Request, string>();
  const clientAddress = createClientAddress(trusted, (request) => peers.get(request));
  return ([request, peer]: [Request, string]) => {
    peers.set(request, peer);
    return clientAddress(request);
  };
}

describe("createClientAddress()", () => {
  test("without trusted proxies the TCP peer is the client, whatever X-Forwarded-For says", () => {
    const resolve = resolverFor([]);
    expect(resolve(from("203.0.113.9"))).toBe("203.0.113.9");
    expect(resolve(from("203.0.113.9", "198.51.100.1"))).toBe("203.0.113.9");
  });

  test("from a peer that is not a trusted proxy, X-Forwarded-For is ignored", () => {
    const resolve = resolverFor(["10.0.0.0/8"]);
    expect(resolve(from("203.0.113.9", "198.51.100.1"))).toBe("203.0.113.9");
  });

  const cases: [string, string[], string, string | undefined, string][] = [
    ["the address the trusted proxy appended", ["127.0.0.1"], "127.0.0.1", "198.51.100.1", "198.51.100.1"],
    ["the right-most hop, not what the client wrote before it", ["127.0.0.1"], "127.0.0.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"],
    ["past a chain of trusted proxies (CIDR)", ["10.0.0.0/8"], "10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.1", "198.51.100.1"],
    ["the proxy itself when it sent no header", ["127.0.0.1"], "127.0.0.1", undefined, "127.0.0.1"],
    ["the last trusted hop when the next one is not an address", ["10.0.0.0/8"], "10.0.0.2", "garbage, 10.0.0.1", "10.0.0.1"],
    ["the proxy when its own hop is not an address", ["127.0.0.1"], "127.0.0.1", "unknown", "127.0.0.1"],
    ["IPv6 hops and proxies", ["fd00::/8"], "fd00::2", "2001:db8::1, fd00::1", "2001:db8::1"],
    ["an IPv4 peer seen as IPv4-mapped IPv6", ["127.0.0.1"], "::ffff:127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"],
    ["all hops trusted: the left-most", ["10.0.0.0/8"], "10.0.0.3", "10.0.0.1, 10.0.0.2", "10.0.0.1"],
  ];
  for (const [name, trusted, peer, header, expected] of cases) {
    test(`behind a trusted proxy: ${name}`, () => {
      expect(resolverFor(trusted)(from(peer, header))).toBe(expected);
    });
  }

  test("an IPv4-mapped peer counts as its IPv4 address", () => {
    expect(resolverFor([])(from("::ffff:203.0.113.9"))).toBe("203.0.113.9");
  });

  test("resolves a request once (the admission check and the handlers share the answer)", () => {
    let asked = 0;
    const clientAddress = createClientAddress([], () => (asked++, "203.0.113.9"));
    const request = new Request("http://localhost/");
    expect(clientAddress(request)).toBe("203.0.113.9");
    expect(clientAddress(request)).toBe("203.0.113.9");
    expect(asked).toBe(1);
  });
});
