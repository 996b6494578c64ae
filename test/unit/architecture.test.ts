import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The layout rules (README: How it is built): which folder may import which, each third-party
 * library through one folder, other features only through their index.ts, and no cycles. Domain
 * code never depends on an adapter (http, mcp, cli), so tests call it directly, and replacing a
 * library touches one folder.
 */
const SRC = resolve(import.meta.dir, "../../src");

const ALLOWED: Record<string, string[]> = {
  main: ["cli", "errors"],
  cli: ["server", "config", "http", "store", "mcp", "channels", "auth", "transcript", "sandbox", "gateway", "errors", "version", "lib", "gateway/examples"],
  // Builds the whole server from a config (cli/serve.ts only parses flags, prints and waits).
  server: ["config", "http", "store", "mcp", "channels", "auth", "transcript", "sandbox", "gateway", "errors", "version", "lib", "identity"],
  http: ["auth", "config", "errors", "lib"],
  auth: ["store", "lib", "errors", "identity"],
  // The MCP endpoint lists and calls the gateway's upstream tools beside the channel tools.
  mcp: ["channels", "gateway", "errors", "identity", "lib"],
  channels: ["store", "transcript", "lib", "errors"],
  // Browser-safe: also bundled into the verify page; no Bun APIs, no store.
  transcript: ["lib"],
  // A pure engine: no store, no http; it implements the hook protocol of transcript (types only).
  sandbox: ["lib", "errors", "transcript"],
  store: ["lib", "errors"],
  // The upstream MCP servers behind the gateway: their tool pins and the audit log of their calls
  // live in the store; the SDK client enters here only (as the SDK server does in mcp).
  // Upstreams are configured (config) and granted per caller (identity).
  gateway: ["store", "config", "identity", "lib", "errors"],
  // The log levels and formats it accepts are the logger's own (lib/log.ts).
  config: ["errors", "lib", "identity"],
  lib: [],
  // toAppError logs an unexpected error once, under the id its message carries (lib/log.ts).
  errors: ["lib"],
  // Shared kernel types (like errors.ts): who a verified request speaks for.
  identity: [],
  version: [],
  // The example upstreams (`parley example NAME`) are programs of their own that a gateway starts
  // and talks to over MCP like any upstream; they live beside the gateway but are a node of their
  // own, which the gateway never imports. Built from the same parts as the server, each library
  // through its one folder: their MCP server through mcp (the SDK server's home), the battle
  // log through store (bun:sqlite), run_js_code through sandbox (QuickJS).
  "gateway/examples": ["mcp", "store", "sandbox", "errors", "lib"],
};

const LIBRARY_HOME: Record<string, string[]> = {
  elysia: ["http"],
  "@modelcontextprotocol/sdk/server": ["mcp"],
  // The protocol's types and transports: the server side (mcp) and the client side (gateway).
  "@modelcontextprotocol/sdk/types": ["mcp", "gateway"],
  "@modelcontextprotocol/sdk/shared": ["mcp", "gateway"],
  // The SDK client (one per upstream) only in src/gateway, as the SDK server only in src/mcp.
  "@modelcontextprotocol/sdk/client": ["gateway"],
  // The SDK's OAuth error classes and RFC schemas: only src/auth (oauth-errors.ts, clients.ts).
  "@modelcontextprotocol/sdk/server/auth": ["auth"],
  "@modelcontextprotocol/sdk/shared/auth": ["auth"],
  jose: ["auth"],
  "bun:sqlite": ["store"],
  // QuickJS: the engine, its wasm build and the build's FFI types, only in the bot sandbox.
  "quickjs-emscripten-core": ["sandbox"],
  "@jitl": ["sandbox"],
};

/** Folders below the top level that are features of their own (see ALLOWED). */
const NESTED_FEATURES = ["gateway/examples"];

function featureOf(file: string): string {
  const rel = relative(SRC, file);
  const nested = NESTED_FEATURES.find((f) => rel.startsWith(`${f}/`));
  if (nested) return nested;
  const top = rel.split("/")[0]!;
  return top.endsWith(".ts") ? top.slice(0, -3) : top;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const files = sourceFiles(SRC);
const imports = new Map<string, string[]>();
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const specs = [
    ...text.matchAll(/\b(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\bimport\s+["']([^"']+)["']/g),
  ].map((m) => m[1] ?? m[2] ?? m[3]!);
  imports.set(file, specs);
}

/** Every import of one src file by another, with the features on both ends. */
const localEdges = [...imports].flatMap(([file, specs]) =>
  specs
    .filter((s) => s.startsWith("."))
    .map((spec) => resolve(dirname(file), spec))
    .filter((target) => target.startsWith(SRC)) // e.g. ../package.json
    .map((target) => ({ file: relative(SRC, file), target, from: featureOf(file), to: featureOf(target) })),
);

describe("architecture: the import rules between folders", () => {
  test("features import only the folders they are allowed to", () => {
    const violations = localEdges
      .filter(({ from, to }) => to !== from && !(ALLOWED[from] ?? []).includes(to))
      .map(({ file, target }) => `${file} → ${relative(SRC, target)}`);
    expect(violations).toEqual([]);
  });

  test("another feature is reached only through its index.ts", () => {
    const violations = localEdges
      // main.ts is the dispatcher: it loads one cli/<command>.ts per subcommand.
      .filter(({ from, to }) => to !== from && to !== "lib" && !(from === "main" && to === "cli"))
      .filter(({ target }) => relative(SRC, target).includes("/") && !target.endsWith("/index.ts"))
      .map(({ file, target }) => `${file} → ${relative(SRC, target)}`);
    expect(violations).toEqual([]);
  });

  test("each third-party library enters through exactly one folder", () => {
    const violations: string[] = [];
    for (const [file, specs] of imports) {
      for (const spec of specs) {
        // The most specific entry wins (e.g. sdk/server/auth over sdk/server).
        const home = Object.entries(LIBRARY_HOME)
          .filter(([lib]) => spec === lib || spec.startsWith(`${lib}/`) || spec.startsWith(`${lib}.`))
          .sort(([a], [b]) => b.length - a.length)[0];
        if (home && !home[1].includes(featureOf(file))) violations.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(violations).toEqual([]);
  });

  // Issue 10: a hook crossed four sets of types (the transcript's, the engine's, the runner's, the
  // instance's), its arguments unpacked and repacked and its state parsed and re-serialized on the way.
  test("the bot hook protocol is declared once, in src/transcript/bot-protocol.ts, and the sandbox uses it", () => {
    const declarations = files.flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/^export (?:interface|type) (HookCall|HookResult|BotOutput|BotProgram|FetchRecord|EngineCall|EngineResult|EngineProgram|EngineFetch|HookInput|HookOutcome)\b/gm)].map(
        (m) => `${relative(SRC, file)}: ${m[1]}`,
      ),
    );
    expect(declarations.sort()).toEqual(["BotOutput", "BotProgram", "FetchRecord", "HookCall", "HookResult"].map((t) => `transcript/bot-protocol.ts: ${t}`));
    expect(localEdges.some(({ file, to }) => file === "sandbox/bot-engine.ts" && to === "transcript")).toBe(true);
    // Types only: the worker threads load nothing of the verifier.
    const valueImports = files
      .filter((f) => featureOf(f) === "sandbox")
      .flatMap((f) => [...readFileSync(f, "utf8").matchAll(/^import (?!type )[^;]*from "\.\.\/transcript\/[^"]+";/gm)].map((m) => `${relative(SRC, f)}: ${m[0]}`));
    expect(valueImports).toEqual([]);
  });

  test("the feature graph has no cycles", () => {
    const edges = new Map<string, Set<string>>();
    for (const { from, to } of localEdges) if (to !== from) (edges.get(from) ?? edges.set(from, new Set()).get(from)!).add(to);
    const state = new Map<string, "visiting" | "done">();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      if (state.get(node) === "done") return;
      if (state.get(node) === "visiting") return void cycles.push([...path, node].join(" → "));
      state.set(node, "visiting");
      for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, "done");
    };
    for (const node of edges.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });
});
