/**
 * The example upstreams built into the binary (`parley example battle|docker|code`): each a real
 * MCP server run as a program of its own, on stdio or Streamable HTTP, that a gateway fronts like
 * any other upstream. They share nothing with the server process that starts them.
 */
import type { ToolDef } from "../../mcp/index.ts";
import { BattleLog } from "../../store/index.ts";
import { battleLogDir, battleTools } from "./battle.ts";
import { codeTools } from "./code.ts";
import { DockerRunner, dockerTools } from "./docker.ts";
import { JsRunner } from "./js.ts";
import { PythonRunner } from "./python.ts";

export { exampleConfig } from "./config.ts";
export { BATTLE_LIMITS } from "./battle.ts";
export { DOCKER_LIMITS } from "./docker.ts";
export { JS_LIMITS, JS_SANDBOX } from "./js.ts";
export { PYTHON_LIMITS } from "./python.ts";

export const EXAMPLE_NAMES = ["battle", "docker", "code"] as const;
export type ExampleName = (typeof EXAMPLE_NAMES)[number];

export interface Example {
  name: ExampleName;
  /** Where it keeps data (battle only). */
  dataDir?: string;
  tools: ToolDef[];
  instructions: string;
  close(): void;
}

export interface ExampleOptions {
  /** The data directory (battle keeps DATA/examples/battle.db). */
  dataDir: string;
  /** This process's environment: PATH (where docker and python3 are found) and the docker client's DOCKER_* settings. */
  env: Record<string, string | undefined>;
}

/** Opens one example's tools (battle opens its database: STORAGE_UNAVAILABLE when it cannot). */
export function openExample(name: ExampleName, options: ExampleOptions): Example {
  switch (name) {
    case "battle": {
      const dir = battleLogDir(options.dataDir);
      const log = BattleLog.open(dir);
      return {
        name,
        dataDir: dir,
        tools: battleTools(log),
        instructions: "Report a battle's progress with update_battle_process, its end with report_on_battle_end, and read it with get_battle_log.",
        close: () => log.close(),
      };
    }
    case "docker":
      return { name, tools: dockerTools(new DockerRunner(options.env)), instructions: "Run a container with run_docker.", close: () => {} };
    case "code": {
      const js = new JsRunner();
      return {
        name,
        tools: codeTools(new PythonRunner(options.env.PATH), js),
        instructions: "Run Python with run_python_code and JavaScript with run_js_code; both answer the program's output, each within limits.",
        close: () => js.dispose(),
      };
    }
  }
}
