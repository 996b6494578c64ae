import { issueAgentToken, listAgentTokens, revokeAgentToken } from "../auth/index.ts";
import { AppError } from "../errors.ts";
import { openSigned, parseDataFlags, tellGrantChanged } from "./data.ts";

const USAGE = "usage: parley token issue --agent NAME --servers a,b,SERVER_TOOL [--ttl 30d] | token list | token revoke ID";

/**
 * `parley token issue|list|revoke`: agent tokens, signed with the server's key in the data dir.
 * Works beside a running server (SQLite WAL); a revoke takes effect on the server's next request.
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== "issue" && action !== "list" && action !== "revoke") throw new AppError("INVALID_REQUEST", USAGE);
  const extra: Record<string, { type: "string" }> = action === "issue" ? { agent: { type: "string" }, servers: { type: "string" }, ttl: { type: "string" } } : {};
  const { values, args, config } = parseDataFlags(rest, env, extra, action === "revoke");
  const id = args[0];
  if (action === "revoke" && (!id || args.length > 1)) throw new AppError("INVALID_REQUEST", USAGE);
  if (action === "issue" && (typeof values.agent !== "string" || typeof values.servers !== "string")) throw new AppError("INVALID_REQUEST", USAGE);
  const { auth, close } = await openSigned(config);
  try {
    if (action === "issue") {
      const parsed = await issueAgentToken(auth, {
        agent: values.agent as string,
        servers: (values.servers as string).split(",").map((s) => s.trim()).filter(Boolean),
        ttl: (values.ttl as string | undefined) ?? "30d",
      }).catch((err) => {
        if (err instanceof AppError) throw err;
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
    if (!(await revokeAgentToken(auth, id!))) {
      process.stderr.write(`parley: no active agent token "${id}"\n`);
      return 1;
    }
    await tellGrantChanged(config, id!);
    process.stdout.write(`Revoked ${id}.\n`);
    return 0;
  } finally {
    close();
  }
}
