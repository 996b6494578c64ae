/**
 * Drives the real `mcp-remote` stdio proxy (npm mcp-remote, Node-targeted) as a child process:
 * JSON-RPC lines in on stdin, JSON-RPC lines out on stdout, its log on stderr. Sign-in is headless:
 * BROWSER points at a script that appends the URL it was given to a log and follows it with
 * `curl -s -L` (our /authorize approves at once without --passcode and 302s to mcp-remote's
 * localhost callback), keeping cookies in a jar beside it as a browser does (the identity is
 * bound to the sign-in cookie).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const PROXY = join(ROOT, "node_modules/mcp-remote/dist/proxy.js");

/** Polls `check` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000, intervalMs = 50): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<Awaited<T>>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** Writes the fake browser into `dir`; every invocation appends its URL to `<dir>/browser.log`; cookies live in `<dir>/cookies.txt`. */
export function writeFakeBrowser(dir: string): { script: string; log: string; urls(): string[] } {
  const curl = Bun.which("curl");
  if (!curl) throw new Error("curl is required for the headless sign-in");
  const script = join(dir, "fake-browser.sh");
  const log = join(dir, "browser.log");
  const jar = join(dir, "cookies.txt");
  writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${log}'\nexec '${curl}' -s -L --max-time 20 -b '${jar}' -c '${jar}' -o /dev/null "$1"\n`);
  chmodSync(script, 0o755);
  return { script, log, urls: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []) };
}

/** The files mcp-remote keeps per server under `<config dir>/mcp-remote-v1/<hash>_*.json`. */
export function storedAuth(configDir: string): { tokens?: Record<string, any>; clientInfo?: Record<string, any> } {
  const dir = join(configDir, "mcp-remote-v1");
  if (!existsSync(dir)) return {};
  const files = readdirSync(dir);
  const read = (suffix: string) => {
    const name = files.find((f) => f.endsWith(suffix));
    if (!name) return undefined;
    try {
      return JSON.parse(readFileSync(join(dir, name), "utf8")) as Record<string, any>;
    } catch {
      return undefined; // caught mid-write
    }
  };
  return { tokens: read("_tokens.json"), clientInfo: read("_client_info.json") };
}

export interface RemoteProxy extends AsyncDisposable {
  proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  /** Every JSON-RPC message read from stdout so far. */
  messages: any[];
  stderr(): string;
  send(message: Record<string, unknown>): void;
  /** Sends a request and waits for the response with its id. */
  request(method: string, params?: Record<string, unknown>, timeoutMs?: number): Promise<any>;
  /** initialize + notifications/initialized; returns the initialize result. */
  initialize(timeoutMs?: number): Promise<any>;
  /** tools/call; returns the structured result, throws on isError or a JSON-RPC error. */
  callTool(name: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<any>;
  /** Closes stdin (mcp-remote then shuts down) and waits; SIGKILL if it lingers. */
  close(): Promise<number | null>;
}

export function startRemoteProxy(mcpUrl: string, options: { configDir: string; browser: string; extraArgs?: string[] }): RemoteProxy {
  const node = Bun.which("node");
  if (!node) throw new Error("node is required to run mcp-remote");
  mkdirSync(options.configDir, { recursive: true }); // also its cwd: nothing it writes lands in the repo
  const proc = Bun.spawn([node, PROXY, mcpUrl, ...(options.extraArgs ?? [])], {
    cwd: options.configDir,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, MCP_REMOTE_CONFIG_DIR: options.configDir, BROWSER: options.browser, DISPLAY: "", WAYLAND_DISPLAY: "" },
  });
  const messages: any[] = [];
  let err = "";
  void (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        try {
          messages.push(JSON.parse(line));
        } catch {
          err += `[non-JSON stdout] ${line}\n`;
        }
      }
    }
  })();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) err += decoder.decode(chunk, { stream: true });
  })();

  let nextId = 1;
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const send = (message: Record<string, unknown>) => {
    proc.stdin.write(JSON.stringify(message) + "\n");
    void proc.stdin.flush();
  };
  const request = async (method: string, params?: Record<string, unknown>, timeoutMs = 20_000) => {
    const id = nextId++;
    send({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) });
    const response = await waitFor(
      `the response to ${method} (id ${id}) from mcp-remote`,
      () => {
        const found = messages.find((m) => m.id === id && ("result" in m || "error" in m));
        if (!found && !running()) throw new Error(`mcp-remote exited ${proc.exitCode} before answering ${method}\nstderr:\n${err}`);
        return found;
      },
      timeoutMs,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nstderr:\n${err}`);
    });
    if (response.error) throw new Error(`${method} failed: ${JSON.stringify(response.error)}`);
    return response.result;
  };
  const close = async () => {
    if (running()) {
      try {
        proc.stdin.end();
      } catch {
        // already closed
      }
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5_000).then(() => false)]);
      if (!exited) proc.kill("SIGKILL");
    }
    return proc.exited;
  };
  return {
    proc,
    messages,
    stderr: () => err,
    send,
    request,
    async initialize(timeoutMs = 30_000) {
      const result = await request(
        "initialize",
        { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "parley-e2e", version: "1.0.0" } },
        timeoutMs,
      );
      send({ jsonrpc: "2.0", method: "notifications/initialized" });
      return result;
    },
    async callTool(name, args = {}, timeoutMs = 20_000) {
      const result = await request("tools/call", { name, arguments: args }, timeoutMs);
      const text = result.content?.[0]?.text;
      if (result.isError) throw new Error(`${name} returned an error: ${text}`);
      return result.structuredContent ?? JSON.parse(text);
    },
    close,
    async [Symbol.asyncDispose]() {
      await close();
    },
  };
}

/** The payload of a JWT (no verification; the server verifies). */
export function jwtClaims(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
}
