import { describe, expect, test } from "bun:test";
import { auditLine } from "../../../src/cli/audit.ts";
import { describe as describeStatus } from "../../../src/cli/status.ts";

/**
 * What an upstream or a caller wrote reaches the operator's terminal through `parley status` (an
 * upstream's error, the names it lists and that are skipped) and `parley audit` (a resource URI a
 * caller read): escape sequences in it must arrive as text, not as commands to the terminal
 * (clear the screen, rewrite the line, set the title…).
 */
const ESC = "\x1b";
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]/;

describe("operator output", () => {
  test("parley status prints an upstream's error and skipped names with their control characters escaped", () => {
    const out = describeStatus(
      {
        version: "1",
        pid: 1,
        started_at: "2026-01-01T00:00:00.000Z",
        url: "http://127.0.0.1:1/mcp",
        sessions: 0,
        upstreams: [
          {
            name: "evil",
            transport: "stdio",
            state: "down",
            since: "2026-01-01T00:00:00.000Z",
            retry_at: null,
            error: `tools/list failed: ${ESC}[2J${ESC}[Hall upstreams up\u009b31m`,
            tools: 0,
            held: [],
            skipped: [{ tool: `${ESC}]0;owned\x07x`, reason: "characters outside A-Za-z0-9_-" }],
            shortened: [],
            restarts: 0,
            pid: null,
            emptied: false,
          },
        ],
      },
      Date.now(),
    );
    // Before: the escape sequences were printed raw.
    expect(out.replace(/\n/g, "")).not.toMatch(CONTROL);
    expect(out).toContain("\\u001b[2J");
    expect(out).toContain("\\u009b31m");
    expect(out.split("\n").length).toBe(4);
  });

  test("parley audit prints a URI a caller read with its control characters escaped", () => {
    const row = { id: 1, ts: "2026-01-01T00:00:00.000Z", kind: "call" as const, who: "agent:m", server: "fx", tool: `fx://items/${ESC}[1A${ESC}[2K\rforged row`, method: "resources/read", duration_us: 10, outcome: "FORBIDDEN", arg_bytes: 0, result_bytes: 0, through_id: null, through_hash: null, count: null, hash: "h" };
    const line = auditLine(row);
    expect(line).not.toMatch(CONTROL);
    expect(line).toContain("\\u001b[1A");
  });
});
