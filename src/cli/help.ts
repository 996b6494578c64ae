import { VERSION } from "../version.ts";

export const HELP = `Parley ${VERSION} — shared MCP channels for AI sessions

Usage:
  parley serve [--host 127.0.0.1] [--port 8201] [--data ./parley_data] [--config parley.toml] [--public-url URL]
               [--passcode CODE] [--no-auth] [--log-level error|warn|info|debug] [--log-format text|json]
  parley token issue --agent NAME --servers channels[,a,b,SERVER_TOOL] [--ttl 30d]
  parley token list
  parley token revoke ID
  parley clients list                     signed-in OAuth clients and their sign-ins (grants)
  parley clients revoke CLIENT_ID|GRANT_ID   their tokens stop working on the next request
  parley channels list
  parley channels close CHANNEL_ID        as an admin's close; through the server while one runs
  parley channels export CHANNEL_ID       the signed transcript, to stdout
  parley backup NEW_DIR                   a consistent copy of the data (database and key), online
  parley status [--json]                  the running server: sessions, each upstream's state, tools, restarts
  parley upstream pins [NAME]             upstream tools' pinned definitions; held-back changes with their diff
  parley upstream approve NAME            accept the held definitions of upstream NAME (or of one tool: SERVER_TOOL)
  parley audit [--agent NAME] [--since 1h] [--json]   the log of upstream calls (who, tool, outcome, sizes)
  parley audit --verify [--json]          check its hash chain (exit 0 valid, 1 names the first broken row)
  parley verify FILE|URL [--jwks SERVER_URL]   check a transcript (exit 0 valid, 1 invalid); --jwks: the
                                          server's URL, to check the signing key is the one it publishes
  parley example battle|docker|code [--port N] [--host 127.0.0.1] [--data ./parley_data]
                                          an example upstream MCP server: on stdio, or with --port
                                          over Streamable HTTP at /mcp (--data: battle's log)
  parley example config [--data DIR]      a config wiring the three examples, to stdout
  parley version
  parley help

Commands other than serve and verify take the server's --data, --config, --port and --public-url
(what the server runs with), work beside a running server, and never create a data directory.
The server's settings also read from PARLEY_<NAME> (e.g. PARLEY_PORT) and from the TOML file
(port = 8201). Precedence: flags > env > TOML > defaults.
`;

export async function run(): Promise<number> {
  process.stdout.write(HELP);
  return 0;
}
