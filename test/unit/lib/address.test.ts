import { describe, expect, test } from "bun:test";
import { addressGroup, isLoopbackHost, LOOPBACK_HOSTNAMES } from "../../../src/lib/address.ts";

describe("addressGroup()", () => {
  test("an IPv4 address is itself; an IPv4-mapped IPv6 address is its IPv4 address", () => {
    expect(addressGroup("203.0.113.7")).toBe("203.0.113.7");
    expect(addressGroup("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressGroup("::FFFF:203.0.113.7")).toBe("203.0.113.7");
  });

  test("an IPv6 address stands for its /64, however it is written", () => {
    const group = "2001:db8:0:1::/64";
    expect(addressGroup("2001:db8:0:1::1")).toBe(group);
    expect(addressGroup("2001:0db8:0000:0001:ffff:eeee:dddd:cccc")).toBe(group);
    expect(addressGroup("2001:DB8:0:1:a::")).toBe(group);
    expect(addressGroup("2001:db8:0:1::1%eth0")).toBe(group);
    expect(addressGroup("2001:db8:0:2::1")).not.toBe(group);
    expect(addressGroup("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressGroup("::1")).toBe("0:0:0:0::/64");
    expect(addressGroup("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });
});

describe("isLoopbackHost()", () => {
  test("takes loopback as a URL hostname, a Host header's name or a --host value spells it", () => {
    for (const host of LOOPBACK_HOSTNAMES) expect(isLoopbackHost(host)).toBe(true);
    expect(isLoopbackHost(new URL("http://[::1]:8201/").hostname)).toBe(true);
    expect(isLoopbackHost("::1")).toBe(true);
    for (const host of ["0.0.0.0", "::", "example.com", "localhost.example.com", "127.0.0.1.nip.io", "192.168.1.2"]) expect(isLoopbackHost(host)).toBe(false);
  });
});
