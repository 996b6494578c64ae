import { afterAll, beforeAll } from "bun:test";
import { connect, type TestClient } from "./mcp-client.ts";
import { startServer, type ServerProcess, type StartServerOptions } from "./start-server.ts";

/**
 * One real server and signed-in clients for a test file, started before its tests and disposed
 * after them: `const env = useServer(["alice", "bob"]); … env.alice.call(…)`.
 */
export function useServer<N extends string>(names: N[], options: StartServerOptions = {}) {
  const env = { server: undefined as unknown as ServerProcess } as { server: ServerProcess } & Record<N, TestClient>;
  beforeAll(async () => {
    env.server = await startServer(options);
    for (const name of names) (env as Record<N, TestClient>)[name] = await connect(env.server.mcpUrl, name);
  });
  afterAll(async () => {
    for (const name of names) await (env as Record<N, TestClient>)[name]?.[Symbol.asyncDispose]();
    await env.server?.[Symbol.asyncDispose]();
  });
  return env;
}
