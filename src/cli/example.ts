import { resolve } from "node:path";
import { ConfigSchema } from "../config/index.ts";
import { AppError } from "../errors.ts";
import { EXAMPLE_NAMES, exampleConfig, openExample, type ExampleName } from "../gateway/examples/index.ts";
import { isLoopbackHost } from "../lib/address.ts";
import { log } from "../lib/log.ts";
import { createToolServer, serveHttp, serveStdio, ToolTable } from "../mcp/index.ts";
import { VERSION } from "../version.ts";
import { parseFlags } from "./args.ts";

/**
 * `parley example battle|docker|code [--port N] [--host H] [--data DIR]`: one example upstream, on
 * stdio (stdout carries only MCP) or, with --port, over Streamable HTTP at /mcp (banner on stdout).
 * `parley example config [--data DIR]`: a config wiring all three, on stdout.
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const { values, positionals } = parseFlags(argv, { port: { type: "string" }, host: { type: "string" }, data: { type: "string" } }, true);
  const [name, ...extra] = positionals;
  if (extra.length > 0) throw new AppError("INVALID_REQUEST", `Unexpected argument "${extra[0]}" (usage: parley example ${EXAMPLE_NAMES.join("|")}|config [--port N] [--host H] [--data DIR])`);
  // The server's own default, so that an example beside a server finds the same directory.
  const dataDir = resolve(values.data ?? ConfigSchema.shape.data.parse(undefined));
  if (name === "config") {
    if (values.port !== undefined || values.host !== undefined) throw new AppError("INVALID_REQUEST", "parley example config takes only --data");
    process.stdout.write(exampleConfig(dataDir));
    return 0;
  }
  if (!EXAMPLE_NAMES.includes(name as ExampleName)) {
    throw new AppError("INVALID_REQUEST", `Unknown example ${JSON.stringify(name ?? "")}: choose ${EXAMPLE_NAMES.join(", ")} or config`);
  }
  if (values.data !== undefined && name !== "battle") throw new AppError("INVALID_REQUEST", `--data is for the battle example (${name} keeps no data)`);
  const port = values.port === undefined ? undefined : parsePort(values.port);
  if (port === undefined && values.host !== undefined) throw new AppError("INVALID_REQUEST", "--host goes with --port (without it the example speaks on stdio)");
  const host = values.host ?? "127.0.0.1";

  const example = openExample(name as ExampleName, { dataDir, env });
  const table = new ToolTable(example.tools);
  const build = () => createToolServer({ name: `parley-example-${name}`, version: VERSION, instructions: example.instructions }, table);
  const stopped = stopSignal();
  try {
    if (port === undefined) {
      log.info("example serving on stdio", { example: name, ...(example.dataDir ? { data: example.dataDir } : {}) });
      const server = build();
      await Promise.race([serveStdio(server), stopped.promise]);
      // Stopped by a signal while the parent keeps stdin open: letting stdin go is what lets the process end.
      await server.close();
    } else {
      const http = serveHttp({ host, port, createServer: build });
      process.stdout.write(`Parley example ${name} serving at ${http.url}${example.dataDir ? ` (data: ${example.dataDir})` : ""}\n`);
      if (!isLoopbackHost(host)) {
        process.stderr.write(`WARNING: the ${name} example has no authentication: anyone who can reach ${host}:${port} can call its tools. Keep it on loopback, behind the gateway.\n`);
      }
      await stopped.promise;
      await http.stop();
    }
  } finally {
    stopped.dispose();
    example.close();
    log.flush();
  }
  return 0;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new AppError("INVALID_REQUEST", `Invalid --port ${JSON.stringify(text)}: a port number, 0–65535 (0 picks a free one)`);
  return port;
}

/** Resolves on SIGINT or SIGTERM (the gateway stopping its upstream). */
function stopSignal(): { promise: Promise<void>; dispose(): void } {
  let stop = () => {};
  const promise = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    log.info("example stopping", { signal });
    stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    promise,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
