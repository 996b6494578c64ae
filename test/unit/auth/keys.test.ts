import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSigningKey } from "../../../src/auth/keys.ts";
import { AppError } from "../../../src/errors.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

/** The error loadSigningKey rejects with (fails the test if it resolved). */
async function refusal(dataDir: string): Promise<AppError> {
  const err = await loadSigningKey(dataDir).then(
    () => new Error("expected the key file to be refused"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe("a damaged key file", () => {
  const damaged: [string, string][] = [
    ["garbage", "\u0000\u0013not json at all"],
    ["empty (cut off by a crash or a full disk)", ""],
    ["cut off mid-way", '{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7'],
    ["the public half only", '{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}'],
    ["another kind of key", '{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}'],
    ["a private key that does not match its public half", '{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'],
  ];
  for (const [name, content] of damaged) {
    test(`${name}: refused with one line naming the file, and left as it was (never replaced by a new key)`, async () => {
      using dir = tempDir();
      const file = join(dir.path, "keys/ed25519.jwk");
      mkdirSync(join(dir.path, "keys"), { mode: 0o700 });
      writeFileSync(file, content, { mode: 0o600 });
      const e = await refusal(dir.path);
      expect(e.code).toBe("STORAGE_UNAVAILABLE");
      expect(e.message).toStartWith(`key file ${resolve(file)} `);
      expect(e.message).toContain("restore it from a backup");
      expect(e.message).not.toContain("\n");
      expect(readFileSync(file, "utf8")).toBe(content);
    });
  }

  test("a key file that cannot be read (a directory in its place) is refused the same way", async () => {
    using dir = tempDir();
    mkdirSync(join(dir.path, "keys/ed25519.jwk"), { recursive: true });
    const e = await refusal(dir.path);
    expect(e.code).toBe("STORAGE_UNAVAILABLE");
    expect(e.message).toStartWith(`key file ${resolve(dir.path, "keys/ed25519.jwk")} cannot be read (EISDIR`);
  });

  test("the first start writes the key whole, through a temporary file that does not stay behind", async () => {
    using dir = tempDir();
    const key = await loadSigningKey(dir.path);
    expect(readdirSync(join(dir.path, "keys"))).toEqual(["ed25519.jwk"]);
    expect(JSON.parse(readFileSync(join(dir.path, "keys/ed25519.jwk"), "utf8"))).toMatchObject({ kty: "OKP", crv: "Ed25519", x: key.publicJwk.x });
  });
});
