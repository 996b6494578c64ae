/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`) against the real stack:
 * Elysia app, Origin/Host guard, McpEndpoint sessions, SSE with the event store, our tools/call
 * handler. The server is test/fixtures/conformance-server.ts: production `startServer` plus the
 * fixture tools, resources and prompts the suite looks up by name. No expected-failures baseline:
 * every scenario must pass.
 *
 * Two pinned versions: 0.1.16 (`latest`, active suite) and 0.2.0-alpha.12 with
 * `--requirements 2025-11-25` (the frozen 2025-11-25 set, plus wire-schema validation of every
 * message, session lifecycle and SSE resumption with Last-Event-ID). Both need Bun (Node ≥ 22 in
 * general: they import fs.globSync), so they run under process.execPath.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "../helpers/mcp-client.ts";
import { readChecks } from "../helpers/conformance-results.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** Scenarios both versions run for 2025-11-25 (`conformance list --server`). */
const ACTIVE_SCENARIOS = [
  "server-initialize", "logging-set-level", "ping", "completion-complete", "tools-list",
  "tools-call-simple-text", "tools-call-image", "tools-call-audio", "tools-call-embedded-resource",
  "tools-call-mixed-content", "tools-call-with-logging", "tools-call-error", "tools-call-with-progress",
  "tools-call-sampling", "tools-call-elicitation", "elicitation-sep1034-defaults", "server-sse-multiple-streams",
  "elicitation-sep1330-enums", "resources-list", "resources-read-text", "resources-read-binary",
  "resources-templates-read", "resources-subscribe", "resources-unsubscribe", "prompts-list", "prompts-get-simple",
  "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image", "dns-rebinding-protection",
];

interface Suite {
  version: string;
  dir: string;
  args: string[];
  scenarios: string[];
}

const SUITES: Suite[] = [
  { version: "0.1.16", dir: "node_modules/@modelcontextprotocol/conformance", args: [], scenarios: ACTIVE_SCENARIOS },
  {
    version: "0.2.0-alpha.12",
    dir: "node_modules/conformance-next",
    args: ["--requirements", "2025-11-25"],
    // Run and reported but not scored for 2025-11-25; we hold them to the same bar.
    scenarios: [...ACTIVE_SCENARIOS, "server-session-lifecycle", "json-schema-2020-12", "server-sse-polling"],
  },
];


let server: ServerProcess;
let resultsRoot: string;

beforeAll(async () => {
  server = await startServer({ command: [process.execPath, join(ROOT, "test/fixtures/conformance-server.ts")] });
  resultsRoot = mkdtempSync(join(tmpdir(), "parley-conformance-"));
});
afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
  if (resultsRoot) rmSync(resultsRoot, { recursive: true, force: true });
});

/** Runs one suite version as a child process; returns its exit code, output and per-scenario checks (from -o). */
async function runSuite(suite: Suite) {
  const out = join(resultsRoot, suite.version);
  const proc = Bun.spawn(
    [process.execPath, join(ROOT, suite.dir, "dist/index.js"), "server", "--url", server.mcpUrl, ...suite.args, "-o", out],
    // cwd in the temp dir: nothing the suite writes can land in the repo.
    { cwd: resultsRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
  );
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const checks = readChecks(out, "server");
  const summary = /Total: (\d+) passed, (\d+) failed/.exec(stdout);
  return { code, stdout, stderr, checks, passed: Number(summary?.[1] ?? -1), failed: Number(summary?.[2] ?? -1) };
}

describe("MCP conformance suite against the real HTTP/MCP stack", () => {
  for (const suite of SUITES) {
    test(`@modelcontextprotocol/conformance ${suite.version} ${suite.args.join(" ") || "(active suite)"}: every scenario passes`, async () => {
      const pkg = JSON.parse(readFileSync(join(ROOT, suite.dir, "package.json"), "utf8")) as { version: string };
      expect(pkg.version).toBe(suite.version);

      const run = await runSuite(suite);
      const context = `\n--- stdout (tail) ---\n${run.stdout.slice(-4000)}\n--- stderr ---\n${run.stderr.slice(-2000)}`;

      const notPassing = [...run.checks].flatMap(([scenario, checks]) =>
        checks.filter((c) => c.status !== "SUCCESS" && c.status !== "INFO").map((c) => `${scenario}/${c.id}: ${c.status} ${c.errorMessage ?? c.description}`),
      );
      // FAILURE, WARNING (a SHOULD we miss) and SKIPPED (a check that could not run) all count against us.
      expect(notPassing, context).toEqual([]);
      expect([...run.checks.keys()].sort(), context).toEqual([...suite.scenarios].sort());

      const successes = [...run.checks.values()].flat().filter((c) => c.status === "SUCCESS").length;
      expect(run.failed, context).toBe(0);
      expect(run.passed, context).toBe(successes);
      expect(run.code, context).toBe(0);
      console.log(`conformance ${[suite.version, ...suite.args].join(" ")}: ${run.passed} passed, ${run.failed} failed across ${run.checks.size} scenarios`);
    });
  }

  test("the conformance fixtures exist only in the fixture entry: `parley serve` lists none of them", async () => {
    await using product = await startServer();
    await using client = await connect(product.mcpUrl, "fixture-check");
    const tools = (await client.client.listTools()).tools.map((t) => t.name);
    const resources = (await client.client.listResources()).resources.map((r) => r.uri);
    expect(tools.filter((n) => n.startsWith("test_") || n === "json_schema_2020_12_tool")).toEqual([]);
    expect(resources.filter((u) => u.startsWith("test://"))).toEqual([]);
    // Prompts are a fixture-only capability: with no upstream configured the product declares none, so prompts/list is unknown.
    expect(client.client.getServerCapabilities()?.prompts).toBeUndefined();
  });
});
