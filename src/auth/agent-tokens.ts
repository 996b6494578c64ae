import { z } from "zod";
import { AppError } from "../errors.ts";
import { grantEntryKnown } from "../identity.ts";
import { randomToken } from "../lib/ids.ts";
import type { GrantRecord } from "../store/index.ts";
import { signAccessToken } from "./access-tokens.ts";
import type { AuthContext } from "./context.ts";

export const AgentTokenRequestSchema = z.object({
  agent: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "agent name: 1-64 letters, digits, _ . -"),
  servers: z
    .array(z.string().regex(/^(?=.{1,64}$)[a-z0-9-]{1,32}(_[A-Za-z0-9_-]+)?$/, 'servers are [a-z0-9-]+ ("channels", "battle"), a single tool SERVER_TOOL ("battle_echo")'))
    .min(1),
  ttl: z
    .string()
    .regex(/^\d+[smhd]$/, 'ttl like "30d", "12h", "15m" or "90s"')
    .default("30d"),
});
export type AgentTokenRequest = z.input<typeof AgentTokenRequestSchema>;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

export function ttlSeconds(ttl: string): number {
  return Number(ttl.slice(0, -1)) * UNIT_SECONDS[ttl.at(-1) as keyof typeof UNIT_SECONDS];
}

/**
 * An agent token (for a program; README: Agent tokens): a JWT signed by the server key for
 * subject `agent:NAME`, carrying the granted servers. Its grant row makes `token revoke` immediate.
 */
export async function issueAgentToken(ctx: AuthContext, request: AgentTokenRequest) {
  const req = AgentTokenRequestSchema.parse(request);
  // A token for a server this one does not serve would only ever get 403 insufficient_scope.
  const unknown = req.servers.filter((s) => !grantEntryKnown(ctx.settings.knownServers, s));
  if (unknown.length > 0) {
    throw new AppError("INVALID_REQUEST", `Cannot issue a token for ${unknown.map((s) => `"${s}"`).join(", ")}: this server serves: ${ctx.settings.knownServers.join(", ")} (or one upstream tool: SERVER_TOOL)`);
  }
  const seconds = ttlSeconds(req.ttl);
  const grant: GrantRecord = {
    id: randomToken("agt"),
    kind: "agent",
    subject: `agent:${req.agent}`,
    client_id: null,
    name: req.agent,
    scope: [...new Set(req.servers)].join(" "),
    resource: ctx.settings.resource,
    created_at: new Date().toISOString(),
    expires_at: Date.now() + seconds * 1000,
    revoked_at: null,
  };
  await ctx.store.createGrant(grant);
  const token = await signAccessToken(ctx.key, { issuer: ctx.settings.issuer, audience: ctx.settings.resource }, { sub: grant.subject, scope: grant.scope, gid: grant.id }, seconds);
  return { id: grant.id, agent: req.agent, servers: grant.scope.split(" "), expires_at: new Date(grant.expires_at!).toISOString(), token };
}

export async function listAgentTokens(ctx: AuthContext) {
  return (await ctx.store.listGrants("agent")).map((g) => ({
    id: g.id,
    agent: g.name,
    servers: g.scope.split(" "),
    created_at: g.created_at,
    expires_at: g.expires_at ? new Date(g.expires_at).toISOString() : null,
    revoked: g.revoked_at !== null,
  }));
}

/** Revokes an agent token by id; false if there is no such live agent token. */
export async function revokeAgentToken(ctx: AuthContext, id: string): Promise<boolean> {
  const grant = await ctx.store.getGrant(id);
  if (!grant || grant.kind !== "agent") return false;
  return ctx.store.revokeGrant(id);
}
