/**
 * The official MCP conformance suite's authorization-server checks (`conformance authorization`,
 * new in 0.2.0-alpha.12, devDependency alias `conformance-next`) against our own OAuth 2.1 AS on
 * the real server. Two scenarios:
 *  - authorization-server-metadata-endpoint: RFC 8414 metadata (issuer, endpoints, S256, `code`);
 *  - authorization-code-grant: the suite builds a PKCE S256 authorize URL (with `resource`), waits
 *    on its own callback at http://127.0.0.1:<port>/callback, then redeems the code at /token.
 * The client is registered through our /register (RFC 7591) with that callback. The "browser" is
 * a plain fetch that follows /authorize's redirect (sign-in approves at once without --passcode).
 * The suite needs Node ≥ 22 APIs (fs.globSync), so it runs under Bun (process.execPath).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { waitFor } from "../helpers/mcp-remote.ts";
import { readChecks, type Check } from "../helpers/conformance-results.ts";
import { registerClient } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SUITE = join(ROOT, "node_modules/conformance-next/dist/index.js");


let server: ServerProcess;
let work: string;

beforeAll(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), "parley-oauth-conformance-"));
});
afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A loopback port that was free a moment ago (the suite binds its callback server to it). */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

test("conformance `authorization` (0.2.0-alpha.12): every check passes against our AS", async () => {
  const port = await freePort();
  const client = await registerClient(server.url, {
    redirect_uris: [`http://127.0.0.1:${port}/callback`],
    client_name: "mcp-conformance",
    token_endpoint_auth_method: "none",
  });
  const outDir = join(work, "results");
  const proc = Bun.spawn(
    [process.execPath, SUITE, "authorization", "--url", server.url, "--client-id", client.client_id, "--resource", server.mcpUrl, "-p", String(port), "-o", outDir],
    { cwd: work, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } },
  );
  let stdout = "";
  let stderr = "";
  const pump = async (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  };
  const pumped = Promise.all([pump(proc.stdout, (t) => (stdout += t)), pump(proc.stderr, (t) => (stderr += t))]);
  try {
    const running = () => proc.exitCode === null && proc.signalCode === null;
    const authorizeUrl = await waitFor("the suite to print its authorize URL", () => {
      const m = /(http:\/\/\S+\/authorize\?\S+)/.exec(stdout);
      if (!m && !running()) throw new Error(`suite exited ${proc.exitCode} before printing an authorize URL\nstdout:\n${stdout}\nstderr:\n${stderr}`);
      return m?.[1];
    }, 20_000);
    const url = new URL(authorizeUrl);
    expect(url.origin).toBe(server.url);
    expect(url.searchParams.get("client_id")).toBe(client.client_id);
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("resource")).toBe(server.mcpUrl);

    // The "browser": /authorize 302s with the code to the suite's callback, which answers OK.
    await waitFor("the suite's callback server", () => stdout.includes("Callback server started"), 10_000);
    const landed = await fetch(authorizeUrl, { redirect: "follow", signal: AbortSignal.timeout(10_000) });
    expect(landed.url).toStartWith(`http://127.0.0.1:${port}/callback?code=`);
    expect(landed.status).toBe(200);

    const code = await Promise.race([proc.exited, Bun.sleep(30_000).then(() => "timeout" as const)]);
    await pumped;
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
  }

  expect(existsSync(outDir)).toBe(true);
  const checks = readChecks(outDir, "authorization-server");
  expect([...checks.keys()].sort()).toEqual(["authorization-code-grant", "authorization-server-metadata-endpoint"]);
  const all = [...checks.values()].flat();
  const failures = all.filter((c) => c.status === "FAILURE").map((c) => `${c.id}: ${c.errorMessage}`);
  expect(failures).toEqual([]);
  expect(all.filter((c) => c.status === "SUCCESS").map((c) => c.id).sort()).toEqual(["authorization-code-grant", "authorization-server-metadata"]);
  // The one non-pass: we do not support Client ID Metadata Documents (a SHOULD in 2025-11-25; the suite warns).
  expect(all.filter((c) => c.status !== "SUCCESS").map((c) => `${c.id}:${c.status}`)).toEqual(["authorization-server-metadata-cimd:WARNING"]);
  expect(stdout).toContain("Total: 2 passed, 0 failed");

  // The grant really issued a token for our resource, and the redirect carried iss (RFC 9207).
  const grant = checks.get("authorization-code-grant")!.find((c) => c.id === "authorization-code-grant") as Check & { details: any };
  expect(new URL(grant.details.authorizationResponseUrl).searchParams.get("iss")).toBe(server.url);
  expect(grant.details.body.token_type).toBe("Bearer");
  expect(grant.details.body.scope).toBe("channels");
}, 60_000);
