import { resolve } from "node:path";
import { createAuthContext, issueAgentToken, listAgentTokens, loadSigningKey, revokeAgentToken } from "../auth/index.ts";
import { loadConfig } from "../config/index.ts";
import { AppError } from "../errors.ts";
import { SqliteAuthStore, SqliteStore } from "../store/index.ts";
import { parseFlags } from "./args.ts";
import { authSettings } from "./serve.ts";

const USAGE = "usage: parley token issue --agent NAME --servers a,b [--ttl 30d] | token list | token revoke ID";

/**
 * `parley token issue|list|revoke`: agent tokens, signed with the server's key in the data dir.
 * Works beside a running server (SQLite WAL); a revoke takes effect on the server's next request.
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== "issue" && action !== "list" && action !== "revoke") throw new AppError("INVALID_REQUEST", USAGE);
  const { values, positionals } = parseFlagsWithId(action, rest);
  const config = loadConfig({
    flags: { data: values.data, config: values.config, public_url: values["public-url"], port: values.port },
    env,
  });
  const store = new SqliteStore(resolve(config.data));
  try {
    const auth = createAuthContext(new SqliteAuthStore(store.db), await loadSigningKey(resolve(config.data)), authSettings(config));
    if (action === "issue") {
      if (!values.agent || !values.servers) throw new AppError("INVALID_REQUEST", USAGE);
      const parsed = await issueAgentToken(auth, {
        agent: values.agent,
        servers: values.servers.split(",").map((s) => s.trim()).filter(Boolean),
        ttl: values.ttl ?? "30d",
      }).catch((err) => {
        throw new AppError("INVALID_REQUEST", `Cannot issue token: ${err instanceof Error && "issues" in err ? (err as any).issues[0].message : String(err)}`);
      });
      process.stderr.write(`Agent token ${parsed.id} for "${parsed.agent}" (servers: ${parsed.servers.join(", ")}; expires ${parsed.expires_at}).\n`);
      process.stderr.write(`Use it as: Authorization: Bearer <token>   (audience ${auth.settings.resource})\n`);
      process.stdout.write(`${parsed.token}\n`);
      return 0;
    }
    if (action === "list") {
      const tokens = await listAgentTokens(auth);
      if (tokens.length === 0) process.stdout.write("No agent tokens.\n");
      for (const t of tokens) {
        process.stdout.write(`${t.id}  ${t.agent}  servers=${t.servers.join(",")}  expires=${t.expires_at}  ${t.revoked ? "REVOKED" : "active"}\n`);
      }
      return 0;
    }
    const id = positionals[0];
    if (!id) throw new AppError("INVALID_REQUEST", USAGE);
    if (!(await revokeAgentToken(auth, id))) {
      process.stderr.write(`parley: no active agent token "${id}"\n`);
      return 1;
    }
    process.stdout.write(`Revoked ${id}.\n`);
    return 0;
  } finally {
    store.close();
  }
}

function parseFlagsWithId(action: string, argv: string[]) {
  const common = { data: { type: "string" }, config: { type: "string" }, "public-url": { type: "string" }, port: { type: "string" } } as const;
  if (action === "revoke") {
    const [id, ...flags] = argv;
    if (!id || id.startsWith("-")) throw new AppError("INVALID_REQUEST", USAGE);
    return { values: parseFlags(flags, common).values as Record<string, string | undefined>, positionals: [id] };
  }
  const options = action === "issue" ? { ...common, agent: { type: "string" }, servers: { type: "string" }, ttl: { type: "string" } } : common;
  return { values: parseFlags(argv, options as typeof common).values as Record<string, string | undefined>, positionals: [] as string[] };
}
