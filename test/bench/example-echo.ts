/**
 * The example upstreams' cost per call, as the gateway's bench sees it (it fronts `parley example`
 * echo): `echo` over stdio and over Streamable HTTP, serial (latency) and 16 at once (throughput),
 * and a trivial run_python_code (a run's fixed cost: spawn, rlimits, the watchdog, the temp dir).
 *
 *   bun test/bench/example-echo.ts [--root DIR]... [--calls 3000]
 *
 * --root runs `bun DIR/src/main.ts example …` instead of this tree; given more than once, each tree
 * in turn in one run (e.g. `--root /tmp/parley-before --root .` for before and after).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { percentile } from "./stats.ts";

const { values } = parseArgs({ options: { root: { type: "string", multiple: true }, calls: { type: "string", default: "3000" } } });
const roots = (values.root ?? ["."]).map((r) => resolve(r));
const calls = Number(values.calls);

async function connect(root: string, transport: "stdio" | "http"): Promise<{ client: Client; stop(): Promise<void> }> {
  const main = resolve(root, "src/main.ts");
  const client = new Client({ name: "bench", version: "1" });
  if (transport === "stdio") {
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [main, "example", "code"], stderr: "ignore" }));
    return { client, stop: () => client.close() };
  }
  const proc = Bun.spawn([process.execPath, main, "example", "code", "--port", "0"], { stdout: "pipe", stderr: "ignore" });
  let out = "";
  for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
    out += chunk;
    if (/serving at (\S+\/mcp)/.test(out)) break;
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(/serving at (\S+\/mcp)/.exec(out)![1]!)));
  return {
    client,
    async stop() {
      await client.close();
      proc.kill();
      await proc.exited;
    },
  };
}

async function measure(client: Client, name: string, args: Record<string, unknown>, n: number, concurrency: number): Promise<string> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const t = performance.now();
        const r = await client.callTool({ name, arguments: args });
        if (r.isError) throw new Error(JSON.stringify(r.content));
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return `${Math.round(n / seconds)}/s, p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`;
}

for (const root of roots) {
  for (const transport of ["stdio", "http"] as const) {
    const { client, stop } = await connect(root, transport);
    await measure(client, "echo", { message: "warm" }, 300, 4);
    console.log(`${root} ${transport} echo serial:      ${await measure(client, "echo", { message: "hello" }, calls, 1)}`);
    console.log(`${root} ${transport} echo 16 at once:  ${await measure(client, "echo", { message: "hello" }, calls, 16)}`);
    if (transport === "stdio") console.log(`${root} ${transport} python print(1): ${await measure(client, "run_python_code", { code: "print(1)" }, 40, 1)}`);
    await stop();
  }
}
