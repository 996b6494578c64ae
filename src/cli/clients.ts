import { AppError } from "../errors.ts";
import { OperatorQueries, SqliteAuthStore } from "../store/index.ts";
import { openData, parseDataFlags, tellGrantChanged } from "./data.ts";

const USAGE = "usage: parley clients list | clients revoke CLIENT_ID|GRANT_ID";

/**
 * `parley clients list|revoke`: the OAuth clients that signed in, and their sign-ins (grants, each a
 * refresh-token family with a subject). Revoking marks grants revoked in the database the running
 * server reads on every request: their access and refresh tokens stop working on the next one.
 * The client may sign in again (with the passcode, when one is set).
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== "list" && action !== "revoke") throw new AppError("INVALID_REQUEST", USAGE);
  const { args, config } = parseDataFlags(rest, env, {}, action === "revoke");
  if (action === "revoke" && args.length !== 1) throw new AppError("INVALID_REQUEST", USAGE);
  const data = openData(config);
  try {
    const clients = new OperatorQueries(data.store.db).clients();
    if (action === "list") {
      if (clients.length === 0) process.stdout.write("No signed-in clients.\n");
      for (const c of clients) {
        const hosts = [...new Set(c.redirect_uris.map(redirectHost))].join(",");
        const since = c.first_grant_at === null ? c.created_at : new Date(c.first_grant_at).toISOString();
        process.stdout.write(`${c.client_id}  ${JSON.stringify(c.client_name ?? "")}  redirect=${hosts}  signed in since ${since}\n`);
        for (const g of c.grants) process.stdout.write(`  ${g.id}  ${g.subject}  since ${g.created_at}  ${g.state}\n`);
      }
      return 0;
    }
    const id = args[0]!;
    const client = clients.find((c) => c.client_id === id || c.grants.some((g) => g.id === id));
    if (!client) {
      process.stderr.write(`parley: no signed-in client "${id}" (see parley clients list)\n`);
      return 1;
    }
    const auth = new SqliteAuthStore(data.store.db);
    let revoked = 0;
    for (const g of client.grants) {
      if (g.state !== "revoked" && (id === client.client_id || id === g.id) && (await auth.revokeGrant(g.id))) {
        revoked++;
        await tellGrantChanged(config, g.id);
      }
    }
    process.stdout.write(`${id}: ${revoked} grant${revoked === 1 ? "" : "s"} revoked; their tokens stop working on the next request.\n`);
    return 0;
  } finally {
    data.close();
  }
}

/** Where a client sends its users back: enough to tell Claude from mcp-remote on localhost. */
function redirectHost(uri: string): string {
  try {
    return new URL(uri).host || uri;
  } catch {
    return uri;
  }
}
