import { AppError } from "../errors.ts";
import type { Caller } from "../channels/index.ts";
import type { Identity } from "../identity.ts";
import type { ToolExtra } from "./tool.ts";

type AuthInfo = NonNullable<ToolExtra["authInfo"]>;

/**
 * A request's auth as the SDK carries it: the transport hands this object on to every handler of
 * the request as `extra.authInfo` (the same object, not a copy). It holds the verified Identity as
 * a typed field, so handlers read who is calling with `instanceof`, not out of the SDK's untyped
 * `extra` bag.
 */
export class VerifiedAuthInfo implements AuthInfo {
  readonly token: string;
  readonly clientId: string;
  readonly scopes: string[];
  readonly expiresAt: number;

  constructor(readonly identity: Identity) {
    this.token = identity.token;
    this.clientId = identity.clientId ?? identity.subject;
    this.scopes = identity.servers;
    this.expiresAt = identity.expiresAt;
  }
}

/** The verified caller of a request; null in --no-auth mode. */
export function identityOf(extra: Pick<ToolExtra, "authInfo">): Identity | null {
  const info = extra.authInfo;
  if (info instanceof VerifiedAuthInfo) return info.identity;
  // Auth that is not ours would be a wiring bug; never fall back to the session id for it.
  if (info !== undefined) throw new AppError("INTERNAL_ERROR", "Request auth did not come from the resource-server check");
  return null;
}

/**
 * The one place that decides who is calling: the verified token's subject (never the MCP session), so a
 * reconnect, a new session or a restart keeps membership. In --no-auth mode (conformance suite
 * only) there is no token and the MCP session id stands in.
 */
export function callerFrom(extra: ToolExtra): Caller {
  const identity = identityOf(extra);
  if (identity) return { principal: identity.subject };
  if (extra.sessionId) return { principal: `session:${extra.sessionId}` };
  throw new AppError("UNAUTHENTICATED", "No verified caller; sign in first");
}
