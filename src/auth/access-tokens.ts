import { errors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { SIGNING_ALG, type SigningKey } from "./keys.ts";

/** RFC 9068 access-token JWT type; verification insists on it so no other JWT of ours passes as one. */
const TOKEN_TYP = "at+jwt";

export interface AccessClaims {
  sub: string;
  /** Space-separated granted servers ("channels", upstream names). */
  scope: string;
  /** The grant this token belongs to; revoking the grant kills the token at once. */
  gid: string;
  client_id?: string;
}

export interface TokenAudience {
  issuer: string;
  /** The MCP resource (RFC 8707), e.g. https://host/mcp; when verifying, any of several. */
  audience: string;
}

export interface AcceptedAudience {
  issuer: string;
  audience: string | string[];
}

export async function signAccessToken(key: SigningKey, aud: TokenAudience, claims: AccessClaims, ttlSeconds: number): Promise<string> {
  return new SignJWT({ scope: claims.scope, gid: claims.gid, ...(claims.client_id ? { client_id: claims.client_id } : {}) })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, typ: TOKEN_TYP })
    .setIssuer(aud.issuer)
    .setAudience(aud.audience)
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(key.privateKey);
}

export type VerifiedToken = JWTPayload & AccessClaims & { exp: number };

/**
 * Checks signature (EdDSA only: `alg: none` and others are refused), `typ`, `iss`, `aud` and expiry.
 * Throws with a reason for the log; the wire answer stays a generic invalid_token.
 */
export async function verifyAccessToken(key: SigningKey, aud: AcceptedAudience, token: string): Promise<VerifiedToken> {
  const { payload } = await jwtVerify(token, key.publicKey, {
    issuer: aud.issuer,
    audience: aud.audience,
    algorithms: [SIGNING_ALG],
    typ: TOKEN_TYP,
    requiredClaims: ["sub", "exp", "iat", "jti"],
  });
  if (typeof payload.gid !== "string" || typeof payload.scope !== "string") throw new errors.JWTClaimValidationFailed("missing gid/scope", payload);
  return payload as VerifiedToken;
}
