import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../../src/config/index.ts";
import { AppError } from "../../../src/errors.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

describe("loadConfig()", () => {
  test("defaults are loopback, port 8201, ./parley_data, public URL on localhost", () => {
    using dir = tempDir();
    const c = loadConfig({ flags: {}, env: {}, cwd: dir.path });
    expect(c.host).toBe("127.0.0.1");
    expect(c.port).toBe(8201);
    expect(c.data).toBe("./parley_data");
    expect(c.public_url).toBe("http://localhost:8201");
    expect(Object.isFrozen(c)).toBe(true);
  });

  test("precedence: flags > PARLEY_* env > parley.toml > defaults", () => {
    using dir = tempDir();
    writeFileSync(join(dir.path, "parley.toml"), 'port = 9000\nhost = "127.0.0.2"\ndata = "/tmp/from-toml"\n');
    const c = loadConfig({ flags: { port: "9002" }, env: { PARLEY_PORT: "9001", PARLEY_HOST: "127.0.0.3" }, cwd: dir.path });
    expect(c.port).toBe(9002);
    expect(c.host).toBe("127.0.0.3");
    expect(c.data).toBe("/tmp/from-toml");
  });

  test("--config names the TOML file; PARLEY_ALLOWED_ORIGINS is a comma list", () => {
    using dir = tempDir();
    const file = join(dir.path, "other.toml");
    writeFileSync(file, 'public_url = "https://parley.example.com/"\n');
    const c = loadConfig({ flags: { config: file }, env: { PARLEY_ALLOWED_ORIGINS: "https://a.example, https://b.example" }, cwd: dir.path });
    expect(c.public_url).toBe("https://parley.example.com");
    expect(c.allowed_origins).toEqual(["https://a.example", "https://b.example"]);
  });

  test("trusted_proxies: empty by default; addresses and CIDR blocks (IPv4, IPv6) from a comma list or TOML", () => {
    using dir = tempDir();
    expect(loadConfig({ flags: {}, env: {}, cwd: dir.path }).trusted_proxies).toEqual([]);
    const fromEnv = loadConfig({ flags: {}, env: { PARLEY_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8,fd00::/8, ::1" }, cwd: dir.path });
    expect(fromEnv.trusted_proxies).toEqual(["127.0.0.1", "10.0.0.0/8", "fd00::/8", "::1"]);
    writeFileSync(join(dir.path, "parley.toml"), 'trusted_proxies = ["192.168.0.0/16"]\nrequest_timeout_seconds = 30\nmax_requests_per_address = 8\n');
    const fromToml = loadConfig({ flags: {}, env: {}, cwd: dir.path });
    expect(fromToml.trusted_proxies).toEqual(["192.168.0.0/16"]);
    expect(fromToml.request_timeout_seconds).toBe(30);
    expect(fromToml.max_requests_per_address).toBe(8);
  });

  const bad: [string, Parameters<typeof loadConfig>[0], RegExp][] = [
    ["non-numeric port flag", { flags: { port: "http" }, env: {} }, /"port" from --port/],
    ["port out of range in env", { flags: {}, env: { PARLEY_PORT: "70000" } }, /"port" from PARLEY_PORT/],
    ["public URL that is not http(s)", { flags: { public_url: "ftp://x" }, env: {} }, /"public_url" from --public-url/],
    ["missing config file", { flags: { config: "/nonexistent/parley.toml" }, env: {} }, /Cannot read config file/],
    ["trusted proxy that is a host name", { flags: {}, env: { PARLEY_TRUSTED_PROXIES: "proxy.internal" } }, /"trusted_proxies\[0\]" from PARLEY_TRUSTED_PROXIES/],
    ["trusted proxy CIDR prefix too long", { flags: {}, env: { PARLEY_TRUSTED_PROXIES: "10.0.0.0/8, 10.0.0.0/33" } }, /"trusted_proxies\[1\]" from PARLEY_TRUSTED_PROXIES: expected an IP address or CIDR block/],
    ["request timeout above Bun's 255 s", { flags: {}, env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "256" } }, /"request_timeout_seconds" from PARLEY_REQUEST_TIMEOUT_SECONDS/],
    ["request timeout of 0 (no deadline at all)", { flags: {}, env: { PARLEY_REQUEST_TIMEOUT_SECONDS: "0" } }, /"request_timeout_seconds"/],
  ];
  for (const [name, sources, message] of bad) {
    test(`rejects ${name} with one clear INVALID_REQUEST line`, () => {
      using dir = tempDir();
      let err: unknown;
      try {
        loadConfig({ ...sources, cwd: dir.path });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("INVALID_REQUEST");
      expect((err as AppError).message).toMatch(message);
      expect((err as AppError).message).not.toContain("\n");
    });
  }

  test("rejects an unknown key and a TOML syntax error, naming the file", () => {
    using dir = tempDir();
    writeFileSync(join(dir.path, "parley.toml"), "prot = 1\n");
    expect(() => loadConfig({ flags: {}, env: {}, cwd: dir.path })).toThrow(/parley\.toml/);
    writeFileSync(join(dir.path, "parley.toml"), "port = = 1\n");
    expect(() => loadConfig({ flags: {}, env: {}, cwd: dir.path })).toThrow(/Cannot parse config file/);
  });
});
