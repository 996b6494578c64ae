import { z } from "zod";
import { AppError } from "../errors.ts";
import { CHANNELS } from "../identity.ts";

/** Upstream names: they prefix tool names (`battle_echo`) and name grants, so no underscore. */
export const UPSTREAM_NAME = /^[a-z0-9-]{1,32}$/;

/** `${NAME}` in a header value: read from the server's environment when it starts. */
export const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

const seconds = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

/**
 * One `[[upstream]]` of the config: an MCP server the gateway starts (`command`, stdio) or
 * connects to (`url`, Streamable HTTP), and re-exposes as `NAME_TOOL` to the callers granted it.
 * Upstreams come from the config only, never from a caller.
 */
export const UpstreamSchema = z
  .object({
    name: z.string().regex(UPSTREAM_NAME, 'upstream names are 1-32 of a-z 0-9 - (no underscore: tools are exposed as NAME_TOOL)').refine((n) => n !== CHANNELS, '"channels" names the built-in tools'),
    /** argv of a stdio server; a first word `parley` is this server's own executable. */
    command: z.array(z.string().min(1)).min(1).optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** Static headers of an HTTP upstream; `${ENV_NAME}` is read from the environment at start. */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "a header name"), z.string().max(8192)).optional(),
    /** Names of the environment variables a stdio upstream sees (it sees no others). */
    env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name")).default([]),
    /** Working directory of a stdio upstream; default: the server's. */
    cwd: z.string().min(1).optional(),
    /** A call not answered within this is UPSTREAM_UNAVAILABLE. */
    call_timeout_seconds: seconds(3600, 60),
    /** Start (spawn or connect, initialize, the first tools/list) must succeed within this. */
    start_timeout_seconds: seconds(600, 30),
    /** Restarts back off 1 s, 2 s, 4 s, … up to this. */
    restart_max_seconds: seconds(3600, 60),
    /**
     * Calls (tools, resource reads, prompts) it may have in progress, one caller at most half of
     * them; one more is RATE_LIMITED at once. Each waiting call holds its arguments and a timer
     * until call_timeout_seconds: without a bound, callers of a hung upstream could make the
     * gateway hold any number of them, and one caller could take every slot of a slow one.
     */
    max_calls_in_flight: z.coerce.number().int().min(1).max(10_000).default(256),
  })
  .strict()
  .superRefine((u, ctx) => {
    if ((u.command === undefined) === (u.url === undefined)) ctx.addIssue({ code: "custom", message: `upstream "${u.name}": give exactly one of command (stdio) and url (HTTP)` });
    if (u.url !== undefined && (u.env.length > 0 || u.cwd !== undefined)) ctx.addIssue({ code: "custom", message: `upstream "${u.name}": env and cwd are for command upstreams (an HTTP one takes headers)` });
    if (u.command !== undefined && u.headers !== undefined) ctx.addIssue({ code: "custom", message: `upstream "${u.name}": headers are for url upstreams (a command one takes env)` });
  });

export type UpstreamConfig = z.infer<typeof UpstreamSchema>;

export const UpstreamsSchema = z
  .array(UpstreamSchema)
  .max(64)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    for (const u of list) {
      if (seen.has(u.name)) ctx.addIssue({ code: "custom", message: `upstream "${u.name}" is defined twice` });
      seen.add(u.name);
    }
  });

/** `${NAME}` in header values, from the server's environment at start; one that is not set stops the start. */
export function resolveHeaders(config: UpstreamConfig, env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [header, template] of Object.entries(config.headers ?? {})) {
    out[header] = template.replace(ENV_REFERENCE, (_, name: string) => {
      const value = env[name];
      if (value === undefined) throw new AppError("INVALID_REQUEST", `upstream "${config.name}": header ${header} names \${${name}}, which is not set in the environment`);
      return value;
    });
  }
  return out;
}
