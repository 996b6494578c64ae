import { describe, expect, test } from "bun:test";
import { InProgress } from "../../../src/http/request-limits.ts";

/** Requests from named addresses, and a resolver that records which ones it was asked about. */
function clients() {
  const addressOf = new Map<Request, string>();
  const asked: string[] = [];
  const clientAddress = (request: Request) => {
    const address = addressOf.get(request)!;
    asked.push(address);
    return address;
  };
  const from = (address: string) => {
    const request = new Request("http://localhost/");
    addressOf.set(request, address);
    return request;
  };
  return { clientAddress, from, asked };
}

describe("InProgress", () => {
  test("resolves no address while fewer than max requests are in progress", () => {
    const { clientAddress, from, asked } = clients();
    const limits = new InProgress(3, clientAddress);
    const requests = [from("a"), from("a"), from("b")];
    for (const r of requests) expect(limits.enter(r)).toBe(true);
    for (const r of requests) limits.leave(r);
    expect(asked).toEqual([]);
  });

  test("from max in progress on, counts every request by address and refuses an address at max", () => {
    const { clientAddress, from } = clients();
    const limits = new InProgress(2, clientAddress);
    const [a1, a2, b1] = [from("a"), from("a"), from("b")];
    expect(limits.enter(a1)).toBe(true);
    expect(limits.enter(a2)).toBe(true);
    // Two in progress: the ones admitted uncounted are counted now, and "a" is at its cap.
    expect(limits.enter(from("a"))).toBe(false);
    expect(limits.enter(b1)).toBe(true);
    limits.leave(a1);
    expect(limits.enter(from("a"))).toBe(true);
    expect(limits.enter(from("a"))).toBe(false);
    expect(limits.enter(from("b"))).toBe(true);
    expect(limits.enter(from("b"))).toBe(false);
  });

  test("goes back to not resolving once nothing is in progress", () => {
    const { clientAddress, from, asked } = clients();
    const limits = new InProgress(1, clientAddress);
    const first = from("a");
    expect(limits.enter(first)).toBe(true);
    expect(limits.enter(from("a"))).toBe(false);
    limits.leave(first);
    asked.length = 0;
    const next = from("a");
    expect(limits.enter(next)).toBe(true);
    limits.leave(next);
    expect(asked).toEqual([]);
  });
});
