import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { z } from "zod";
import { DATA_FLAGS } from "../../src/cli/data.ts";
import { HELP } from "../../src/cli/help.ts";
import { ConfigSchema } from "../../src/config/schema.ts";
import { ERROR_CODES } from "../../src/errors.ts";
import { channelTools } from "../../src/mcp/tools/channels.ts";
import { DEFAULT_LIMITS } from "../../src/sandbox/limits.ts";
import { PRELUDE } from "../../src/sandbox/prelude.ts";
import { TranscriptBotSchema, TranscriptSchema, TranscriptSignatureSchema } from "../../src/transcript/types.ts";

/**
 * The repository explains itself (issue 10, item 8): the public contract is written down in it,
 * complete and true to the code, and nothing in it sends the reader to a document outside it.
 */
const ROOT = resolve(import.meta.dir, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const README = read("README.md");
const BOTS = read("bots/README.md");
const TRANSCRIPT = read("src/transcript/README.md");

/** The README's section under `heading` (up to the next heading of the same or a higher level). */
function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section "${heading}"`);
  const level = heading.indexOf(" ");
  const rest = doc.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level}} `));
  return end < 0 ? rest : rest.slice(0, end);
}

/** The table row whose first cell is `` `name` ``. */
function row(doc: string, name: string): string | undefined {
  return doc.split("\n").find((line) => line.startsWith(`| \`${name}\``));
}

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe("the repository explains itself", () => {
  test("no comment, description, test or doc cites a document outside the repository", () => {
    // Spelled so that a grep of the repository for these names finds no hit in this file either.
    const outside = [/\bD[E]SIGN\b/, /\bS[T]YLE\.md\b/, /\bn[o]tes §/, /(?<!sdk\/)\bs[h]ared\//];
    const hits = ["src", "bots", "test"]
      .flatMap(files)
      .concat(["README.md", "Makefile", "package.json"])
      .filter((f) => /\.(ts|js|md|json)$|Makefile$/.test(f) && !f.startsWith("test/fixtures/transcripts/"))
      .flatMap((f) =>
        read(f)
          .split("\n")
          .flatMap((line, i) => (outside.some((re) => re.test(line)) ? [`${relative(ROOT, join(ROOT, f))}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(hits).toEqual([]);
  });

  test("README: every tool is a row of the tool reference, with each of its arguments", () => {
    const table = section(README, "### Tools");
    const missing: string[] = [];
    let checked = 0;
    for (const tool of channelTools({} as never, "0")) {
      const line = row(table, tool.name);
      if (!line) {
        missing.push(tool.name);
        continue;
      }
      const args = Object.keys((z.toJSONSchema(tool.input, { io: "input" }) as { properties?: object }).properties ?? {});
      for (const arg of args) if (!line.includes(`\`${arg}`)) missing.push(`${tool.name}.${arg}`);
      checked += args.length;
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(20);
  });

  test("README: every error code is a row of the error table, with its HTTP status", () => {
    const table = section(README, "### Errors");
    const rows = Object.keys(ERROR_CODES).map((code) => [code, row(table, code)?.split("|")[2]?.trim()]);
    expect(rows).toEqual(Object.entries(ERROR_CODES).map(([code, status]) => [code, String(status)]));
  });

  test("README and doc://messages: every system message type the server writes is described", () => {
    const written = new Set<string>();
    for (const f of [...files("src/channels"), "src/transcript/bot-protocol.ts"]) {
      for (const m of read(f).matchAll(/(?:type: |\? )"((?:channel|slot|bot):[a-z_]+)"/g)) written.add(m[1]!);
    }
    expect(written.size).toBeGreaterThanOrEqual(12);
    const table = section(README, "### Messages");
    const guide = read("src/mcp/resources.ts");
    expect([...written].filter((t) => !row(table, t))).toEqual([]);
    expect([...written].filter((t) => !guide.includes(t))).toEqual([]);
  });

  test("README: every command, and every flag of the help, is in the command-line table", () => {
    const table = section(README, "## Operating a server");
    const commands = [...read("src/main.ts").matchAll(/^\s+(\w+): \(\) => import\("\.\/cli\//gm)].map((m) => m[1]!);
    expect(commands.length).toBeGreaterThanOrEqual(8);
    expect(commands.filter((c) => !table.includes(`\`parley ${c}`))).toEqual([]);
    const flags = new Set([...HELP.matchAll(/--[a-z-]+/g)].map((m) => m[0]).concat(Object.keys(DATA_FLAGS).map((f) => `--${f}`)));
    expect([...flags].filter((f) => !table.includes(f))).toEqual([]);
  });

  test("README: every config key is a row of the configuration table", () => {
    const table = section(README, "## Configuration");
    expect(Object.keys(ConfigSchema.shape).filter((key) => !row(table, key))).toEqual([]);
  });

  test("bots/README.md (doc://bots): every ctx member, every hook and every limit of a hook", () => {
    const ctx = /function makeCtx\(slots\) \{\s*return freeze\(\{([\s\S]*?)\n {4}\}\);/.exec(PRELUDE)![1]!;
    const members = [...ctx.matchAll(/^\s{6}(\w+)[(,]/gm)].map((m) => m[1]!);
    expect(members).toContain("fetch");
    expect(members.filter((name) => !BOTS.includes(`ctx.${name}`))).toEqual([]);
    for (const hook of ["onInit", "onJoin", "onMessage", "onPrivateMessage"]) expect(BOTS).toContain(`${hook}(ctx`);
    const limits = section(BOTS, "## Limits");
    const kib = (bytes: number) => `${bytes / 1024} KiB`;
    for (const value of [
      `${DEFAULT_LIMITS.budgetPolls} polls`,
      `${DEFAULT_LIMITS.maxOutputs} posts`,
      kib(DEFAULT_LIMITS.maxBodyBytes),
      kib(DEFAULT_LIMITS.maxStateBytes),
      `${(DEFAULT_LIMITS.memoryPages * 64) / 1024} MiB`,
      kib(DEFAULT_LIMITS.stackBytes),
      `${DEFAULT_LIMITS.deadlineMs / 1000} s`,
      `${DEFAULT_LIMITS.terminateMs / 1000} s`,
    ]) {
      expect(limits).toContain(value);
    }
  });

  test("bots/README.md and the README tell one truth about ctx.fetch: allowed hosts only, recorded, replayed", () => {
    for (const doc of [BOTS, README]) {
      expect(doc).toContain("bot_fetch_hosts");
      expect(doc).toContain("`bot:fetch`");
    }
    expect(BOTS).not.toMatch(/fetch\(\)` throws|no hosts allowed yet/);
  });

  test("src/transcript/README.md: every field of a transcript, its bots and its signature", () => {
    const fields = [
      ...Object.keys(TranscriptSchema.shape),
      ...Object.keys(TranscriptSchema.shape.channel.shape),
      ...Object.keys(TranscriptBotSchema.shape),
      ...Object.keys(TranscriptSignatureSchema.shape),
      "message_count",
      "last_id",
      "redacted",
    ];
    expect(fields.filter((f) => !TRANSCRIPT.includes(`\`${f}\``))).toEqual([]);
    expect(README).toContain("src/transcript/README.md");
  });
});
