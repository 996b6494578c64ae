import { describe, expect, test } from "bun:test";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configPath, keysNeedingRestart, loadConfig, watchConfigFile } from "../../../src/config/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const load = (toml: string, dir: string) => {
  writeFileSync(join(dir, "parley.toml"), toml);
  return loadConfig({ flags: { config: join(dir, "parley.toml") }, env: {} });
};

describe("config reload: what takes a restart", () => {
  test("[[upstream]] and default_servers apply live; any other changed key is named", () => {
    using dir = tempDir();
    const running = load(`port = 9000\n[[upstream]]\nname = "a"\nurl = "http://127.0.0.1:1/mcp"\n`, dir.path);
    const live = load(`port = 9000\ndefault_servers = ["channels", "b"]\n[[upstream]]\nname = "b"\nurl = "http://127.0.0.1:2/mcp"\n`, dir.path);
    expect(keysNeedingRestart(running, live)).toEqual([]);
    const other = load(`port = 9001\nmax_message_bytes = 1000\nlog_level = "debug"\n`, dir.path);
    expect(keysNeedingRestart(running, other)).toEqual(["log_level", "max_message_bytes", "port", "public_url"]);
  });

  test("the file a config comes from: --config, PARLEY_CONFIG, ./parley.toml, or none", () => {
    using dir = tempDir();
    expect(configPath({ flags: {}, env: {}, cwd: dir.path })).toBeUndefined();
    writeFileSync(join(dir.path, "parley.toml"), "");
    expect(configPath({ flags: {}, env: {}, cwd: dir.path })).toBe(`${dir.path}/parley.toml`);
    expect(configPath({ flags: {}, env: { PARLEY_CONFIG: "/etc/p.toml" }, cwd: dir.path })).toBe("/etc/p.toml");
    expect(configPath({ flags: { config: "x.toml" }, env: { PARLEY_CONFIG: "/etc/p.toml" }, cwd: dir.path })).toBe("x.toml");
  });
});

describe("watchConfigFile", () => {
  const changes = async (dir: string, act: (path: string) => void) => {
    const path = join(dir, "parley.toml");
    writeFileSync(path, "a = 1\n");
    let calls = 0;
    const watcher = watchConfigFile(path, () => calls++, 100);
    try {
      await Bun.sleep(50);
      act(path);
      // Past the settle time, with room for the filesystem's events to arrive.
      await Bun.sleep(600);
      return calls;
    } finally {
      watcher.close();
    }
  };

  test("a file replaced by rename (as editors save) is seen, a burst of writes is one change", async () => {
    using dir = tempDir();
    expect(
      await changes(dir.path, (path) => {
        writeFileSync(`${path}.swp`, "a = 2\n");
        renameSync(`${path}.swp`, path);
      }),
    ).toBe(1);
    expect(
      await changes(dir.path, (path) => {
        for (let i = 0; i < 5; i++) writeFileSync(path, `a = ${i}\n`);
      }),
    ).toBe(1);
  });

  test("written in place: seen; other files in the directory: ignored", async () => {
    using dir = tempDir();
    expect(await changes(dir.path, (path) => writeFileSync(path, "a = 2\n"))).toBe(1);
    using other = tempDir();
    expect(await changes(other.path, (path) => writeFileSync(`${path}.bak`, "x"))).toBe(0);
  });
});
