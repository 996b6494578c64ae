import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { resolve } from "node:path";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

export type Transport = "stdio" | "http";

export interface ExampleUpstream extends AsyncDisposable {
  client: Client;
  /** The example's process id (the stdio child, or the HTTP server). */
  pid: number;
  /** What it wrote on stderr so far. */
  stderr(): string;
  /** A tool call's raw result. */
  raw(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** A call that must succeed: its structuredContent. */
  call<T = any>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** A call that must fail: its error text and structuredContent.error. */
  error(name: string, args?: Record<string, unknown>): Promise<{ text: string; code: string; detail?: Record<string, any> }>;
}

export interface ExampleOptions {
  /** `--data` etc. after the name. */
  args?: string[];
  /** The example process's whole environment (default: this one's). */
  env?: Record<string, string>;
}

/**
 * Starts `parley example NAME` as a real child process (bun src/main.ts) and connects the SDK
 * Client to it: over its stdin/stdout, or over Streamable HTTP on a free loopback port (--port 0,
 * the URL read from its banner).
 */
export async function startExample(name: string, transport: Transport, options: ExampleOptions = {}): Promise<ExampleUpstream> {
  const env = options.env ?? (process.env as Record<string, string>);
  const client = new Client({ name: "example-test", version: "1.0.0" });
  let err = "";
  let pid: number;
  let stop: () => Promise<void>;
  if (transport === "stdio") {
    const t = new StdioClientTransport({ command: process.execPath, args: [MAIN, "example", name, ...(options.args ?? [])], env, stderr: "pipe" });
    t.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
    await client.connect(t);
    pid = t.pid!;
    stop = () => client.close();
  } else {
    const proc = Bun.spawn([process.execPath, MAIN, "example", name, "--port", "0", ...(options.args ?? [])], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    void (async () => {
      for await (const chunk of proc.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
    })();
    const url = await bannerUrl(proc, () => err);
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    pid = proc.pid;
    stop = async () => {
      await client.close().catch(() => {});
      proc.kill("SIGTERM");
      await proc.exited;
    };
  }
  const raw = async (tool: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 })) as CallToolResult;
  return {
    client,
    pid,
    stderr: () => err,
    raw,
    async call(tool, args) {
      const res = await raw(tool, args);
      if (res.isError) throw new Error(`${tool} failed: ${(res.content[0] as { text: string }).text}`);
      return res.structuredContent as any;
    },
    async error(tool, args) {
      const res = await raw(tool, args);
      if (!res.isError) throw new Error(`expected ${tool} to fail, got ${JSON.stringify(res.structuredContent).slice(0, 500)}`);
      const text = (res.content[0] as { text: string }).text;
      const error = (res.structuredContent as { error: { code: string; detail?: Record<string, any> } }).error;
      return { text, code: error.code, detail: error.detail };
    },
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

async function bannerUrl(proc: Bun.Subprocess<"ignore", "pipe", "pipe">, stderr: () => string): Promise<string> {
  let out = "";
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`example exited before serving\nstdout: ${out}\nstderr: ${stderr()}`);
      out += value;
      const m = /serving at (http:\/\/\S+\/mcp)/.exec(out);
      if (m) return m[1]!;
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
}

/** Live processes (not zombies) whose command line contains `marker`. */
export async function liveProcessesWith(marker: string): Promise<string[]> {
  const { readdirSync, readFileSync } = await import("node:fs");
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      const state = /\nState:\s+(\S)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      if (cmdline.includes(marker) && state !== "Z") found.push(`${pid} ${state} ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
