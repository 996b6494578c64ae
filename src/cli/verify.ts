import { readFileSync } from "node:fs";
import { AppError } from "../errors.ts";
import { SandboxEngine } from "../sandbox/index.ts";
import { replayTranscript, verifyTranscript } from "../transcript/index.ts";
import { parseFlags } from "./args.ts";

const USAGE = "usage: parley verify FILE|URL [--jwks SERVER_URL]";
const JWKS_PATH = "/.well-known/jwks.json";

/**
 * `parley verify FILE|URL`: checks an exported transcript offline (no server needed for a file).
 * The signing key is checked against the server's published JWKS when one is known: `--jwks`, or
 * `<issuer>/.well-known/jwks.json` when the transcript was fetched from a URL.
 * Exit 0 when valid, 1 with the first mismatch, 2 on bad usage.
 */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { jwks: { type: "string" } }, true);
  const source = positionals[0];
  if (!source || positionals.length > 1) throw new AppError("INVALID_REQUEST", USAGE);
  if (values.jwks !== undefined && !/^https?:\/\//.test(values.jwks)) {
    throw new AppError("INVALID_REQUEST", `--jwks takes the server's URL, e.g. https://parley.example.com (got ${JSON.stringify(values.jwks)})`);
  }

  let text: string;
  let jwksUrl = values.jwks;
  try {
    if (/^https?:\/\//.test(source)) {
      const res = await fetch(source);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } else {
      text = readFileSync(source, "utf8");
    }
  } catch (err) {
    process.stderr.write(`parley: cannot read ${source}: ${(err as Error).message}\n`);
    return 1;
  }
  let transcript: unknown;
  try {
    transcript = JSON.parse(text);
  } catch {
    process.stdout.write(`INVALID: ${source} is not JSON\n`);
    return 1;
  }
  if ((transcript as { more?: unknown })?.more === true) {
    process.stdout.write(
      `INVALID: ${source} is one page of get_transcript (more: true); verify the whole transcript: its download_url, or every page's messages in order with the last page's other fields\n`,
    );
    return 1;
  }
  if (!jwksUrl && /^https?:\/\//.test(source)) {
    const issuer = (transcript as { issuer?: unknown })?.issuer;
    if (typeof issuer === "string") jwksUrl = issuer;
  }
  let trustedKeys: { kid?: string; x?: string }[] | undefined;
  if (jwksUrl) {
    const keys = await fetchKeys(jwksUrl);
    if ("error" in keys) {
      process.stderr.write(`parley: ${keys.error}\n`);
      return 1;
    }
    trustedKeys = keys.keys;
  }
  const t = transcript as { bots?: { seed?: string }[]; messages?: object[] };
  const replayable = (t.bots ?? []).length > 0 && (t.bots ?? []).every((b) => b.seed !== undefined) && !(t.messages ?? []).some((m) => "redacted" in m);
  const engine = replayable ? new SandboxEngine() : null;
  const report = await verifyTranscript(transcript, { trustedKeys, replay: engine ? (parsed) => replayTranscript(parsed, engine) : undefined });
  engine?.dispose();
  if (report.ok && (t.bots ?? []).length > 0 && !replayable) {
    report.checks.push("replay: not possible yet: bot seeds and private messages are revealed when the channel closes");
  }
  for (const check of report.checks) process.stdout.write(`ok    ${check}\n`);
  if (!report.ok) {
    process.stdout.write(`FAIL  ${report.failure}\nINVALID: ${source}\n`);
    return 1;
  }
  process.stdout.write(`VALID: ${source}\n`);
  return 0;
}

/**
 * Where `--jwks` (or a download's issuer) has the keys: the server's URL, as its banner prints it
 * and transcripts name it (`issuer`), gets JWKS_PATH appended; a URL whose path ends in `.json` is
 * the key set itself.
 */
function jwksLocation(given: string): string {
  const url = new URL(given);
  if (!url.pathname.endsWith(".json")) url.pathname = url.pathname.replace(/\/+$/, "") + JWKS_PATH;
  return url.href;
}

/**
 * The server's published keys (an RFC 7517 JWK Set). A check the caller asked for is never
 * skipped: an answer that is not a key set fails it, as an unreachable server does.
 */
async function fetchKeys(given: string): Promise<{ keys: { kid?: string; x?: string }[] } | { error: string }> {
  let where = given;
  try {
    where = jwksLocation(given);
    const res = await fetch(where, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return { error: `cannot fetch the server's keys from ${where}: HTTP ${res.status}; give --jwks the server's URL (its MCP URL without /mcp)` };
    const body = (await res.json().catch(() => null)) as { keys?: unknown } | null;
    if (!Array.isArray(body?.keys)) return { error: `${where} is not a JWKS (no "keys" array); give --jwks the server's URL, as its banner prints it` };
    return { keys: body.keys as { kid?: string; x?: string }[] };
  } catch (err) {
    return { error: `cannot fetch the server's keys from ${where}: ${(err as Error).message}` };
  }
}
