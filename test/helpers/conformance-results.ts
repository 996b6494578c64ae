import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** One check of the MCP conformance suite, as it writes them to `<out>/<prefix>-<scenario>-<timestamp>/checks.json`. */
export interface Check {
  id: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "SKIPPED" | "INFO";
  description: string;
  errorMessage?: string;
}

/** Reads every scenario's checks from a suite's `-o` directory; `prefix` is "server" or "authorization-server". */
export function readChecks(outDir: string, prefix: string): Map<string, Check[]> {
  const checks = new Map<string, Check[]>();
  const pattern = new RegExp(`^${prefix}-(.+)-\\d{4}-\\d{2}-\\d{2}T[\\d-]+Z$`);
  for (const entry of existsSync(outDir) ? readdirSync(outDir) : []) {
    const scenario = pattern.exec(entry)?.[1];
    if (scenario) checks.set(scenario, JSON.parse(readFileSync(join(outDir, entry, "checks.json"), "utf8")) as Check[]);
  }
  return checks;
}
