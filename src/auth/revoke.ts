import { sha256Hex } from "../lib/hash.ts";
import { verifyAccessToken } from "./access-tokens.ts";
import { authenticateClient } from "./clients.ts";
import { resourceAliases, type AuthContext } from "./context.ts";
import { oauthFailure } from "./oauth-errors.ts";
import { readForm } from "./token.ts";

/**
 * RFC 7009 revocation. Revoking a refresh or access token revokes its whole grant (§2.1 allows it),
 * so every token of that sign-in stops working at once. Unknown tokens still answer 200 (§2.2).
 */
export async function handleRevoke(ctx: AuthContext, request: Request): Promise<Response> {
  try {
    const form = await readForm(request);
    const client = await authenticateClient(ctx, request, form);
    const token = form.get("token") ?? "";
    const grantId = await grantOf(ctx, token);
    if (grantId) {
      const grant = await ctx.store.getGrant(grantId);
      if (grant?.client_id === client.client_id) await ctx.store.revokeGrant(grantId);
    }
    return new Response(null, { status: 200, headers: { "cache-control": "no-store" } });
  } catch (err) {
    return oauthFailure(err);
  }
}

async function grantOf(ctx: AuthContext, token: string): Promise<string | null> {
  const refresh = await ctx.store.getRefresh(sha256Hex(token));
  if (refresh) return refresh.grant_id;
  try {
    return (await verifyAccessToken(ctx.key, { issuer: ctx.settings.issuer, audience: resourceAliases(ctx.settings) }, token)).gid;
  } catch {
    return null;
  }
}
