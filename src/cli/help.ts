import { VERSION } from "../version.ts";

export const HELP = `Parley ${VERSION} — shared MCP channels for AI sessions

Usage:
  parley serve [--host 127.0.0.1] [--port 8201] [--data ./parley_data] [--config parley.toml] [--public-url URL]
               [--passcode CODE] [--no-auth] [--log-level error|warn|info|debug] [--log-format text|json]
  parley token issue --agent NAME --servers channels[,a,b] [--ttl 30d] [--data DIR]
  parley token list [--data DIR]
  parley token revoke ID [--data DIR]
  parley verify FILE|URL [--jwks URL]     check an exported transcript (exit 0 valid, 1 invalid)
  parley version
  parley help

Every flag also reads from PARLEY_<NAME> (e.g. PARLEY_PORT) and from the TOML file (port = 8201).
Precedence: flags > env > TOML > defaults.
`;

export async function run(): Promise<number> {
  process.stdout.write(HELP);
  return 0;
}
