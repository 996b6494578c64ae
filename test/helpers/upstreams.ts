import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigSchema, type UpstreamConfig } from "../../src/config/index.ts";
import { AppError } from "../../src/errors.ts";
import { audited, Gateway, NO_HOOKS, recordInAudit, type AuditLog, type GatewayOptions } from "../../src/gateway/index.ts";

export const UPSTREAM_FIXTURE = resolve(import.meta.dir, "../fixtures/upstream-server.ts");

/** A stdio upstream running the fixture server in `mode` (test/fixtures/upstream-server.ts). */
export function stdioUpstream(name: string, mode = "echo", extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, command: [process.execPath, UPSTREAM_FIXTURE, "--name", name, "--mode", mode], ...extra };
}

/** Upstream configs as the config file would give them (defaults filled in, checked). */
export function upstreamConfigs(...upstreams: Record<string, unknown>[]): UpstreamConfig[] {
  return ConfigSchema.parse({ upstream: upstreams, default_servers: ["channels"] }).upstream;
}

/** TOML for `[[upstream]]` tables. */
export function upstreamToml(...upstreams: Record<string, unknown>[]): string {
  return upstreams
    .map((u) => {
      const lines = ["[[upstream]]"];
      for (const [key, value] of Object.entries(u)) {
        if (value && typeof value === "object" && !Array.isArray(value)) {
          lines.push(`${key} = { ${Object.entries(value).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ")} }`);
        } else lines.push(`${key} = ${JSON.stringify(value)}`);
      }
      return lines.join("\n");
    })
    .join("\n\n");
}

/** Resolves once `check()` holds, re-checked after each gateway change; rejects after `ms`. */
export function whenGateway(gateway: Gateway, check: () => boolean, ms = 15_000, what = "condition"): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      off();
      fail(new Error(`${what} not met in ${ms} ms: ${JSON.stringify(gateway.status())}`));
    }, ms);
    // State changes that do not change what callers see (down → starting) do not fire onChange: poll those too.
    const poll = setInterval(() => check() && finish(), 50);
    const finish = () => {
      clearTimeout(timer);
      clearInterval(poll);
      off();
      done();
    };
    const off = gateway.onChange(() => check() && finish());
  });
}

/** An HTTP upstream fixture (`--port 0`), stopped on dispose. */
export async function httpFixture(name: string, mode = "echo"): Promise<{ url: string; pid: number } & AsyncDisposable> {
  const proc = Bun.spawn([process.execPath, UPSTREAM_FIXTURE, "--name", name, "--mode", mode, "--port", "0"], { stdout: "pipe", stderr: "inherit", stdin: "ignore" });
  const reader = proc.stdout.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`HTTP fixture exited: ${text}`);
    text += new TextDecoder().decode(value);
    const m = /listening on (\d+)/.exec(text);
    if (m) {
      reader.releaseLock();
      return {
        url: `http://127.0.0.1:${m[1]}/mcp`,
        pid: proc.pid,
        async [Symbol.asyncDispose]() {
          proc.kill("SIGKILL");
          await proc.exited;
        },
      };
    }
  }
}

/** Whether a process runs (a zombie waiting to be reaped counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone (a signal takes a moment to end a process); rejects after `ms`. */
export async function gone(pid: number, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (alive(pid)) {
    if (performance.now() > deadline) throw new Error(`process ${pid} still runs after ${ms} ms`);
    await Bun.sleep(20);
  }
}

/** An upstream's status line as `parley status` has it (undefined when not configured). */
export const upstreamState = (g: Gateway, name: string) => g.status().find((u) => u.name === name);

/** Until every named upstream is up. */
export const upstreamsUp = (g: Gateway, ...names: string[]) => whenGateway(g, () => names.every((n) => upstreamState(g, n)?.state === "up"), 15_000, `${names.join(", ")} up`);

/** A caller of the gateway with that grant. */
export const gatewayCaller = (...grant: string[]) => ({ subject: "agent:test", grant });

/** The AppError a promise fails with (any other failure, or none, fails the test). */
export async function appFailure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

/** One call through the gateway's audited() into `audit`, as an upstream tool call of `scope.who` is recorded. */
export function tracked<T>(audit: AuditLog, scope: { who: string; server: string; tool: string }, args: unknown, run: () => Promise<T>): Promise<T> {
  const hooks = { ...NO_HOOKS, recordCall: recordInAudit(audit) };
  return audited(hooks, { subject: scope.who }, { server: scope.server, tool: scope.tool, upstreamTool: scope.tool, method: "tools/call" }, args, run);
}

const started: Gateway[] = [];

/**
 * A Gateway over `upstreams` (stdioUpstream, or `{name, url}`), started unless `start` is false,
 * stopped by stopGateways() (each test file's afterEach), so no upstream process outlives its test.
 */
export function testGateway(upstreams: Record<string, unknown>[], options: Omit<GatewayOptions, "version"> & { version?: string }, start = true): Gateway {
  const g = new Gateway(upstreamConfigs(...upstreams), { version: "test", ...options });
  started.push(g);
  if (start) g.start();
  return g;
}

export async function stopGateways(): Promise<void> {
  await Promise.all(started.splice(0).map((g) => g.stop()));
}
