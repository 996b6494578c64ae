import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { ExtrasCatalog } from "../../../src/gateway/extras-catalog.ts";

const CATALOG = resolve(import.meta.dir, "../../../src/gateway/extras-catalog.ts");
const templates = (...uriTemplates: string[]) => ({ resources: [], templates: uriTemplates.map((uriTemplate) => ({ uriTemplate, name: uriTemplate })), prompts: [] });

describe("ExtrasCatalog: routing a resource URI", () => {
  test("a hostile upstream's template cannot make routing a caller's URI take forever (in a child process: a hang would stall the runner)", () => {
    // {+x} is `(.+)` in the SDK's matcher: ten in a row backtrack through the ways to split the URI
    // until JavaScriptCore's backtracking limit, 1-2 s of a blocked event loop per read (measured).
    const script = `
      const { ExtrasCatalog } = await import(${JSON.stringify(CATALOG)});
      const catalog = new ExtrasCatalog([{ name: "evil", extras: { resources: [], templates: [{ uriTemplate: "fx://{+a}{+b}{+c}{+d}{+e}{+f}{+g}{+h}{+i}{+j}!", name: "t" }], prompts: [] } }]);
      for (let i = 0; i < 10; i++) catalog.serverOfUri("fx://" + "a".repeat(40 + i));
      catalog.serverOfUri("zz://" + "a".repeat(900_000));
      console.log("routed");
    `;
    const t0 = performance.now();
    const run = Bun.spawnSync({ cmd: [process.execPath, "-e", script], timeout: 5_000, stderr: "pipe" });
    // Before: killed at 5 s, ten reads' routing still running (the server's event loop blocked with it).
    expect(run.stdout.toString()).toContain("routed");
    expect(performance.now() - t0).toBeLessThan(5_000);
  }, 10_000);

  test("templates route by their literal start, the longest first, the caller's granted upstreams before others", () => {
    const catalog = new ExtrasCatalog([
      { name: "wide", extras: templates("fx://{+path}") },
      { name: "items", extras: templates("fx://items/{id}", "fx://items/{id}/parts/{part}") },
      { name: "bare", extras: templates("{+anything}") },
    ]);
    expect(catalog.serverOfUri("fx://items/42")).toBe("items");
    expect(catalog.serverOfUri("fx://items/42/parts/7")).toBe("items");
    expect(catalog.serverOfUri("fx://other")).toBe("wide");
    expect(catalog.serverOfUri("fx://items/42", ["wide"])).toBe("wide");
    // A template with no literal start would take every URI: not routed.
    expect(catalog.serverOfUri("zz://x")).toBeUndefined();
    expect(catalog.serverOfUri("doc://quick-start")).toBeUndefined();
    expect(catalog.listTemplates(["bare", "items"]).map((t) => t.uriTemplate)).toEqual(["fx://items/{id}", "fx://items/{id}/parts/{part}"]);
  });
});
