import { describe, expect, test } from "bun:test";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { EventBudget, eventBytes, SessionEventStore } from "../../../src/mcp/event-store.ts";

/** A tool result as our tools answer: the value as JSON text and as structuredContent. */
function answer(id: number, chars: number): JSONRPCMessage {
  const value = { text: "x".repeat(chars) };
  return { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: JSON.stringify(value) }], structuredContent: value } } as JSONRPCMessage;
}

async function replayed(store: SessionEventStore, after: string): Promise<string[]> {
  const ids: string[] = [];
  await store.replayEventsAfter(after, { send: async (id) => void ids.push(id) });
  return ids;
}

describe("SessionEventStore", () => {
  test("eventBytes() counts a tool result's text twice (it also goes out as structuredContent)", () => {
    expect(eventBytes(answer(1, 10_000))).toBeGreaterThan(20_000);
    expect(eventBytes(answer(1, 10_000))).toBeLessThan(21_000);
    expect(eventBytes({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "x" } } as JSONRPCMessage)).toBeLessThan(1_000);
  });

  test("keeps a session's events within its byte cap, dropping the oldest first; a resume replays what is left", async () => {
    const budget = new EventBudget(100_000_000);
    const store = new SessionEventStore(budget, 256, 50_000);
    const ids: string[] = [];
    for (let i = 1; i <= 10; i++) ids.push(await store.storeEvent("s", answer(i, 10_000)));
    expect(store.size).toBeLessThanOrEqual(50_000);
    expect(budget.total).toBe(store.size);
    expect(await replayed(store, ids[0]!)).toEqual(ids.slice(-2));
  });

  test("keeps at most maxEvents events", async () => {
    const store = new SessionEventStore(new EventBudget(), 3);
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await store.storeEvent("s", answer(i, 10)));
    expect(await replayed(store, "s|0")).toEqual(ids.slice(-3));
  });

  test("an event larger than the session's cap is not kept at all (it is still given an id), and evicts nothing", async () => {
    const budget = new EventBudget();
    const store = new SessionEventStore(budget, 256, 50_000);
    const small = await store.storeEvent("s", answer(1, 100));
    const huge = await store.storeEvent("s", answer(2, 100_000));
    expect(huge).toBe("s|2");
    expect(await replayed(store, "s|0")).toEqual([small]);
    expect(budget.total).toBe(store.size);
  });

  test("the shared budget caps all sessions together: the oldest event of the whole server goes first", async () => {
    const budget = new EventBudget(130_000); // three answers of ~40 KB
    const a = new SessionEventStore(budget);
    const b = new SessionEventStore(budget);
    const first = await a.storeEvent("a", answer(1, 20_000));
    const second = await b.storeEvent("b", answer(2, 20_000));
    const third = await a.storeEvent("a", answer(3, 20_000));
    expect(await replayed(a, "a|0")).toEqual([first, third]);
    const fourth = await b.storeEvent("b", answer(4, 20_000));
    expect(budget.total).toBeLessThanOrEqual(130_000);
    expect(await replayed(a, "a|0")).toEqual([third]);
    expect(await replayed(b, "b|0")).toEqual([second, fourth]);
    await a.storeEvent("a", answer(5, 20_000));
    expect(await replayed(b, "b|0")).toEqual([fourth]);
    expect(budget.total).toBe(a.size + b.size);
  });

  test("close() (the session ended) gives its bytes back to the budget, and a late answer is not kept", async () => {
    const budget = new EventBudget();
    const a = new SessionEventStore(budget);
    const b = new SessionEventStore(budget);
    for (let i = 0; i < 5; i++) await a.storeEvent("a", answer(i, 1_000));
    await b.storeEvent("b", answer(9, 1_000));
    a.close();
    expect(a.size).toBe(0);
    expect(budget.total).toBe(b.size);
    await a.storeEvent("a", answer(10, 1_000));
    expect(a.size).toBe(0);
    expect(budget.total).toBe(b.size);
    expect(await replayed(b, "b|0")).toEqual(["b|1"]);
  });

  test("replays only the stream the Last-Event-ID names (MCP transports: never another stream's messages)", async () => {
    const store = new SessionEventStore(new EventBudget());
    await store.storeEvent("one", answer(1, 10));
    await store.storeEvent("two", answer(2, 10));
    await store.storeEvent("one", answer(3, 10));
    expect(await replayed(store, "one|1")).toEqual(["one|3"]);
  });
});
