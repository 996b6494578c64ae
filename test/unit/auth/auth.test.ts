import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { signAccessToken, verifyAccessToken } from "../../../src/auth/access-tokens.ts";
import { loadSigningKey } from "../../../src/auth/keys.ts";
import { grantableScope } from "../../../src/auth/scopes.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const AUD = { issuer: "http://localhost:8201", audience: "http://localhost:8201/mcp" };
const CLAIMS = { sub: "usr_1", scope: "channels", gid: "gr_1" };

describe("loadSigningKey()", () => {
  test("creates an Ed25519 key on first start with 0600 permissions in a 0700 dir, and reloads the same key", async () => {
    using dir = tempDir();
    const first = await loadSigningKey(dir.path);
    expect(statSync(join(dir.path, "keys/ed25519.jwk")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir.path, "keys")).mode & 0o777).toBe(0o700);
    expect(first.publicJwk).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", kid: first.kid });
    expect(first.publicJwk.d).toBeUndefined();
    const again = await loadSigningKey(dir.path);
    expect(again.kid).toBe(first.kid);
    const token = await signAccessToken(first, AUD, CLAIMS, 60);
    expect((await verifyAccessToken(again, AUD, token)).sub).toBe("usr_1");
  });
});

describe("verifyAccessToken()", () => {
  test("accepts our token and refuses another audience, another issuer, another key and a wrong typ", async () => {
    using a = tempDir();
    using b = tempDir();
    const key = await loadSigningKey(a.path);
    const other = await loadSigningKey(b.path);
    const token = await signAccessToken(key, AUD, CLAIMS, 60);
    expect((await verifyAccessToken(key, AUD, token)).gid).toBe("gr_1");
    await expect(verifyAccessToken(key, { ...AUD, audience: "https://other.example/mcp" }, token)).rejects.toThrow();
    await expect(verifyAccessToken(key, { ...AUD, issuer: "https://other.example" }, token)).rejects.toThrow();
    await expect(verifyAccessToken(other, AUD, token)).rejects.toThrow();
    const idToken = await new SignJWT({ ...CLAIMS }).setProtectedHeader({ alg: "EdDSA", typ: "JWT" }).setIssuer(AUD.issuer).setAudience(AUD.audience).setSubject("usr_1").setIssuedAt().setExpirationTime("1h").setJti("x").sign(key.privateKey);
    await expect(verifyAccessToken(key, AUD, idToken)).rejects.toThrow();
  });

  test("refuses an unsigned (alg none) token", async () => {
    using a = tempDir();
    const key = await loadSigningKey(a.path);
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(JSON.stringify({ ...CLAIMS, iss: AUD.issuer, aud: AUD.audience, iat: now, exp: now + 60, jti: "j" })).toString("base64url");
    await expect(verifyAccessToken(key, AUD, `${header}.${payload}.`)).rejects.toThrow();
  });
});

describe("grantableScope()", () => {
  const settings = { defaultServers: ["channels"] } as Parameters<typeof grantableScope>[0];
  test("grants the requested servers that are allowed, or the defaults when none is", () => {
    expect(grantableScope(settings, null)).toBe("channels");
    expect(grantableScope(settings, "channels channels")).toBe("channels");
    expect(grantableScope(settings, "openid battle")).toBe("channels");
    expect(grantableScope({ defaultServers: ["channels", "battle"] } as typeof settings, "battle")).toBe("battle");
  });
});
