/**
 * `parley example config`: a gateway config wiring the three examples, in the shape the gateway
 * reads (README: Example upstreams): `[[upstream]]` tables with `name` and either `command` (a stdio
 * child process; a first word `parley` is the server's own executable) or `url` (Streamable HTTP,
 * optional `headers`), and `[auth] default_servers`.
 */
export function exampleConfig(dataDir: string): string {
  const data = JSON.stringify(dataDir); // a TOML basic string: JSON's escapes are TOML's
  return `# Parley with the three example upstreams: parley serve --config THIS_FILE
# starts each as a child process, watches it and restarts it. Each is a real MCP server of its own:
# \`parley example NAME\` on stdio, \`parley example NAME --port N\` over Streamable HTTP.
# A command whose first word is "parley" runs the server's own executable, from any directory.

data = ${data}

[[upstream]]
name = "battle"    # battle reports and logs, in SQLite (DATA/examples/battle.db)
command = ["parley", "example", "battle", "--data", ${data}]

[[upstream]]
name = "docker"    # docker run --rm, where a Docker engine is reachable
command = ["parley", "example", "docker"]
# An upstream sees only the environment variables named here: where the docker client is, and
# which engine it talks to (the client gets these and nothing else).
env = ["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"]

[[upstream]]
name = "code"      # Python in a child process with limits, JavaScript in the bots' sandbox
command = ["parley", "example", "code"]
env = ["PATH"]     # where python3 is found; the code itself runs with an empty environment

# An upstream over HTTP instead: start it apart (parley example docker --port 9005) and give
# its URL in place of its command; static headers may name secrets as \${ENV_NAME}, read from the
# environment at start:
#   url = "http://127.0.0.1:9005/mcp"
#   headers = { Authorization = "Bearer \${DOCKER_UPSTREAM_TOKEN}" }

[auth]
# What OAuth users get ("channels": the built-in channel tools); agent tokens carry their own
# list (parley token issue --agent NAME --servers battle,code).
default_servers = ["channels"]
`;
}
