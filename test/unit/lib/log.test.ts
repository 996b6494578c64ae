import { describe, expect, test } from "bun:test";
import { errorId, Logger, shortId, type LogFormat, type LogLevel } from "../../../src/lib/log.ts";

function logger(level: LogLevel, format: LogFormat) {
  let text = "";
  const l = new Logger();
  l.configure({ level, format, sink: (t) => (text += t) });
  return { l, text: () => (l.flush(), text) };
}

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) /;

describe("Logger", () => {
  test("writes the lines of its level and above, nothing below", () => {
    for (const [level, expected] of [
      ["error", ["e"]],
      ["warn", ["e", "w"]],
      ["info", ["e", "w", "i"]],
      ["debug", ["e", "w", "i", "d"]],
    ] as const) {
      const { l, text } = logger(level, "json");
      l.error("e");
      l.warn("w");
      l.info("i");
      l.debug("d");
      expect(text().trim().split("\n").map((line) => JSON.parse(line).msg)).toEqual([...expected]);
    }
  });

  test("text: one line per event, a value that could be misread JSON-quoted, so no value ends a line or forges a field", () => {
    const { l, text } = logger("info", "text");
    l.info("request", { method: "GET", path: "/a b", status: 200, ms: 0.25, who: 'x" y=1', nl: "one\n2026-01-01T00:00:00.000Z ERROR forged", sep: "\u2028", none: undefined, empty: "" });
    const out = text();
    expect(out.split("\n")).toHaveLength(2);
    expect(out).toMatch(LINE);
    expect(out).toContain(' request method=GET path="/a b" status=200 ms=0.25 who="x\\" y=1" nl="one\\n2026-01-01T00:00:00.000Z ERROR forged" sep="\\u2028" empty=""\n');
  });

  test("json: one object per line, whatever the values hold", () => {
    const { l, text } = logger("info", "json");
    l.warn("bot error", { error: "a\nb\u0000c", n: 3, ok: true, nothing: null });
    const lines = text().split("\n");
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual({ time: expect.any(String), level: "warn", msg: "bot error", error: "a\nb\u0000c", n: 3, ok: true, nothing: null });
  });

  test("err: its name and message as `error`; its stack (and its cause's) only at debug, indented in text", () => {
    const err = new TypeError("x is not a function", { cause: new Error("underneath") });
    for (const level of ["info", "debug"] as const) {
      const json = logger(level, "json");
      json.l.error("internal error", { error_id: "err_00000000", err });
      const entry = JSON.parse(json.text());
      expect(entry.error).toBe("TypeError: x is not a function");
      if (level === "debug") expect(entry.stack).toMatch(/^TypeError: x is not a function\n\s+at [^]*caused by: Error: underneath/);
      else expect(entry.stack).toBeUndefined();

      const text = logger(level, "text");
      text.l.error("internal error", { err });
      const lines = text.text().trimEnd().split("\n");
      expect(lines[0]).toMatch(/ ERROR internal error error="TypeError: x is not a function"$/);
      if (level === "debug") {
        expect(lines.length).toBeGreaterThan(2);
        for (const line of lines.slice(1)) expect(line).toStartWith("    ");
      } else expect(lines).toHaveLength(1);
    }
  });

  test("text at debug: a stack whose message holds line breaks still starts no line of its own", () => {
    const { l, text } = logger("debug", "text");
    l.error("internal error", { err: new Error("one\n2026-01-01T00:00:00.000Z ERROR forged\rback\u2028sep") });
    const lines = text().trimEnd().split("\n");
    expect(lines[0]).toMatch(LINE);
    for (const line of lines.slice(1)) expect(line).toMatch(/^ {4}\S/);
    expect(text()).not.toMatch(/[\r\u2028]/);
  });

  test("a long value is cut", () => {
    const { l, text } = logger("info", "json");
    l.info("x", { long: "a".repeat(5000) });
    expect(JSON.parse(text()).long).toBe(`${"a".repeat(1024)}…`);
  });

  test("lines wait for the end of the event-loop turn and go out in one write; an error goes at once", async () => {
    const writes: string[] = [];
    const l = new Logger();
    l.configure({ level: "info", format: "text", sink: (t) => writes.push(t) });
    l.info("one");
    l.info("two");
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split("\n")).toHaveLength(3);
    l.info("three");
    l.error("four");
    expect(writes).toHaveLength(2);
    expect(writes[1]).toMatch(/three[^]*four/);
  });
});

describe("shortId() and errorId()", () => {
  test("a caller as its prefix and 8 characters; an agent by its name", () => {
    expect(shortId("usr_AbCdEfGhIjKlMnOpQrStUv")).toBe("usr_AbCdEfGh");
    expect(shortId("session:0b6a6f5e-8d7b-4c39-9f1b-1d2e3f4a5b6c")).toBe("session:0b6a6f5e");
    expect(shortId("agent:scorer")).toBe("agent:scorer");
  });

  test("an error id is err_ and 8 hex digits, new each time", () => {
    const ids = new Set(Array.from({ length: 100 }, errorId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^err_[0-9a-f]{8}$/);
  });
});
