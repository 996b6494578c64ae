import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { startExample, type Transport } from "../helpers/example-upstream.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// `parley example battle` as a real child process, over stdio and over Streamable HTTP (--port 0).

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

for (const transport of ["stdio", "http"] as Transport[]) {
  describe(`parley example battle over ${transport}`, () => {
    test("lists echo and the three battle tools; echo answers its message", async () => {
      using dir = tempDir();
      await using ex = await startExample("battle", transport, { args: ["--data", dir.path] });
      const { tools } = await ex.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["echo", "get_battle_log", "report_on_battle_end", "update_battle_process"]);
      expect(await ex.call("echo", { message: "ping ✓" })).toEqual({ message: "ping ✓" });
    });

    test("update_battle_process and report_on_battle_end are kept with timestamps; get_battle_log returns them after a restart", async () => {
      using dir = tempDir();
      const before = new Date().toISOString();
      {
        await using ex = await startExample("battle", transport, { args: ["--data", dir.path] });
        const first = await ex.call("update_battle_process", { battle_id: "b-1", message: "round 1: red leads", reported_by: "agent_name1", detail: "3-1" });
        expect(first).toMatchObject({ battle_id: "b-1", event_id: 1 });
        expect(first.ts).toMatch(ISO);
        expect(first.ts >= before).toBe(true);
        await ex.call("update_battle_process", { battle_id: "b-1", message: "round 2", reported_by: "agent_name2", markdown_content: "# Round 2\n*tie*" });
        const end = await ex.call("report_on_battle_end", { battle_id: "b-1", winner: "red", detail: "by points" });
        expect(end.event_id).toBe(3);
        expect((await ex.call("get_battle_log", { battle_id: "b-1" })).status).toBe("ended");
      }
      expect(existsSync(join(dir.path, "examples", "battle.db"))).toBe(true);
      // The other transport the second time: the log is the file's, not the process's.
      await using again = await startExample("battle", transport === "stdio" ? "http" : "stdio", { args: ["--data", dir.path] });
      const log = await again.call("get_battle_log", { battle_id: "b-1" });
      expect(log).toMatchObject({ battle_id: "b-1", status: "ended", cursor: 3, more: false });
      expect(log.events.map((e: any) => [e.id, e.kind, e.reported_by ?? e.winner])).toEqual([
        [1, "update", "agent_name1"],
        [2, "update", "agent_name2"],
        [3, "end", "red"],
      ]);
      expect(log.events[0]).toMatchObject({ message: "round 1: red leads", detail: "3-1" });
      expect(log.events[1].markdown_content).toBe("# Round 2\n*tie*");
      for (const e of log.events) expect(e.ts).toMatch(ISO);
      expect(log.events.map((e: any) => e.ts)).toEqual([...log.events.map((e: any) => e.ts)].sort());
      expect(await again.call("get_battle_log", { battle_id: "never-seen" })).toEqual({ battle_id: "never-seen", status: "unknown", events: [], cursor: 0, more: false });
    });
  });
}

describe("parley example battle: bad input", () => {
  test("an ended battle takes no more reports (INVALID_REQUEST naming its end); the log pages with a cursor", async () => {
    using dir = tempDir();
    await using ex = await startExample("battle", "stdio", { args: ["--data", dir.path] });
    for (let i = 0; i < 5; i++) await ex.call("update_battle_process", { battle_id: "p", message: `m${i}`, reported_by: "a" });
    await ex.call("report_on_battle_end", { battle_id: "p", winner: "a" });
    const late = await ex.error("update_battle_process", { battle_id: "p", message: "late", reported_by: "b" });
    expect(late.code).toBe("INVALID_REQUEST");
    expect(late.text).toMatch(/^INVALID_REQUEST: Battle "p" ended at .* \(winner: a\); it takes no more reports$/);
    expect((await ex.error("report_on_battle_end", { battle_id: "p", winner: "b" })).code).toBe("INVALID_REQUEST");
    const page1 = await ex.call("get_battle_log", { battle_id: "p", limit: 4 });
    expect(page1.events.map((e: any) => e.id)).toEqual([1, 2, 3, 4]);
    expect(page1.more).toBe(true);
    const page2 = await ex.call("get_battle_log", { battle_id: "p", limit: 4, cursor: page1.cursor });
    expect(page2.events.map((e: any) => e.id)).toEqual([5, 6]);
    expect(page2.more).toBe(false);
  });

  test("path tricks, NUL, control characters and very long battle ids are INVALID_REQUEST on every tool; no file is made; the example still serves", async () => {
    using dir = tempDir();
    await using ex = await startExample("battle", "stdio", { args: ["--data", dir.path] });
    const ids = ["../x", "..", "/etc/passwd", "a/b", "a\\b", "x\0y", "ok\n", "", " b", "b.db", "%2e%2e", "b".repeat(65), "b".repeat(100_000)];
    for (const battle_id of ids) {
      for (const [tool, args] of [
        ["update_battle_process", { message: "m", reported_by: "r" }],
        ["report_on_battle_end", { winner: "w" }],
        ["get_battle_log", {}],
      ] as const) {
        const e = await ex.error(tool, { battle_id, ...args });
        expect(e.code).toBe("INVALID_REQUEST");
        expect(e.text).toStartWith(`INVALID_REQUEST: Invalid arguments for ${tool}: battle_id:`);
        // The message never echoes a 100 000-character id back.
        expect(e.text.length).toBeLessThan(300);
      }
    }
    expect(readdirSync(join(dir.path, "examples")).filter((f) => !f.startsWith("battle.db"))).toEqual([]);
    expect(existsSync(join(dir.path, "x"))).toBe(false);
    expect(await ex.call("get_battle_log", { battle_id: "b".repeat(64) })).toMatchObject({ status: "unknown" });
    expect(await ex.call("echo", { message: "still here" })).toEqual({ message: "still here" });
  });

  test("oversized and missing arguments are INVALID_REQUEST naming the field; nothing is stored", async () => {
    using dir = tempDir();
    await using ex = await startExample("battle", "stdio", { args: ["--data", dir.path] });
    const cases: [string, Record<string, unknown>, string][] = [
      ["update_battle_process", { battle_id: "o", message: "m".repeat(4097), reported_by: "r" }, "message"],
      ["update_battle_process", { battle_id: "o", message: "m", reported_by: "r".repeat(101) }, "reported_by"],
      ["update_battle_process", { battle_id: "o", message: "m", reported_by: "r", markdown_content: "#".repeat(64 * 1024 + 1) }, "markdown_content"],
      ["update_battle_process", { battle_id: "o", message: "", reported_by: "r" }, "message"],
      ["update_battle_process", { battle_id: "o", reported_by: "r" }, "message"],
      ["report_on_battle_end", { battle_id: "o", winner: "w", detail: "d".repeat(4097) }, "detail"],
      ["report_on_battle_end", { battle_id: "o", winner: 7 }, "winner"],
      ["get_battle_log", { battle_id: "o", limit: 1001 }, "limit"],
      ["get_battle_log", { battle_id: "o", cursor: -1 }, "cursor"],
      ["echo", { message: "e".repeat(64 * 1024 + 1) }, "message"],
    ];
    for (const [tool, args, field] of cases) {
      const e = await ex.error(tool, args);
      expect(e.code).toBe("INVALID_REQUEST");
      expect(e.text).toStartWith(`INVALID_REQUEST: Invalid arguments for ${tool}: ${field}:`);
    }
    expect((await ex.call("get_battle_log", { battle_id: "o" })).status).toBe("unknown");
  });
});
