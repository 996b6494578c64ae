import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startExample, type Transport } from "../helpers/example-upstream.ts";
import { fakeDocker } from "../helpers/fake-docker.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// `parley example docker` as a real child process. Here, as on most machines that run it, the
// docker client is installed and no engine runs: that path is tested with the real client. What a
// container run passes to the client (the exact argv) is seen through a stand-in `docker` that
// records its arguments, since no engine is there to run one.

const env = process.env as Record<string, string>;
const NO_ENGINE = { ...env, DOCKER_HOST: "unix:///nonexistent/docker.sock" };

for (const transport of ["stdio", "http"] as Transport[]) {
  describe(`parley example docker over ${transport}`, () => {
    test("lists echo and run_docker; with no engine reachable run_docker is UPSTREAM_UNAVAILABLE saying so, and the example still serves", async () => {
      await using ex = await startExample("docker", transport, { env: NO_ENGINE });
      expect((await ex.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["echo", "run_docker"]);
      const e = await ex.error("run_docker", { image: "alpine:3.20", args: ["echo", "hi"] });
      expect(e.code).toBe("UPSTREAM_UNAVAILABLE");
      expect(e.text).toStartWith("UPSTREAM_UNAVAILABLE: No Docker engine is reachable from this server");
      expect(await ex.call("echo", { message: "alive" })).toEqual({ message: "alive" });
    });
  });
}

describe("parley example docker: bad input", () => {
  test("the default engine socket, absent here, is the same clear error", async () => {
    if (env.DOCKER_HOST || existsSync("/var/run/docker.sock")) return; // an engine may be reachable: not this path
    await using ex = await startExample("docker", "stdio");
    expect((await ex.error("run_docker", { image: "alpine" })).code).toBe("UPSTREAM_UNAVAILABLE");
  });

  test("shell metacharacters in args reach no shell: nothing they name is run (real docker client)", async () => {
    using dir = tempDir();
    await using ex = await startExample("docker", "stdio", { env: NO_ENGINE });
    const m = (n: number) => join(dir.path, `pwned${n}`);
    const args = [`;touch ${m(1)}`, `$(touch ${m(2)})`, `\`touch ${m(3)}\``, `&& touch ${m(4)}`, `| touch ${m(5)}`, `;rm -rf /`, "$(id)", "`id`", "'\"\\"];
    expect((await ex.error("run_docker", { image: "alpine", args })).code).toBe("UPSTREAM_UNAVAILABLE");
    expect(readdirSync(dir.path)).toEqual([]);
  });

  test("image references that are not one (shell, options, case, length) are INVALID_REQUEST; valid ones pass to docker", async () => {
    await using ex = await startExample("docker", "stdio", { env: NO_ENGINE });
    const bad = [";rm -rf /", "alpine;rm -rf /", "$(id)", "`id`", "--privileged", "-v", "Alpine", "alpine:bad tag", "alpine\n", "", "a".repeat(400), "alpine@sha256:xyz", "../alpine", "alpine:"];
    for (const image of bad) {
      const e = await ex.error("run_docker", { image });
      expect(e.code).toBe("INVALID_REQUEST");
      expect(e.text).toStartWith("INVALID_REQUEST: Invalid arguments for run_docker: image:");
    }
    const good = ["alpine", "alpine:3.20", "library/alpine:latest", "ghcr.io/owner/name:v1.2", "localhost:5000/x", `alpine@sha256:${"a".repeat(64)}`];
    for (const image of good) expect((await ex.error("run_docker", { image })).code).toBe("UPSTREAM_UNAVAILABLE");
  });

  test("oversized arguments (count, length, NUL, timeout) are INVALID_REQUEST naming the field", async () => {
    await using ex = await startExample("docker", "stdio", { env: NO_ENGINE });
    const cases: [Record<string, unknown>, string][] = [
      [{ image: "alpine", args: Array(65).fill("x") }, "args"],
      [{ image: "alpine", args: ["x".repeat(4097)] }, "args.0"],
      [{ image: "alpine", args: ["a\0b"] }, "args.0"],
      [{ image: "alpine", args: "echo hi" }, "args"],
      [{ image: "alpine", timeout_s: 301 }, "timeout_s"],
      [{ args: ["x"] }, "image"],
    ];
    for (const [args, field] of cases) {
      const e = await ex.error("run_docker", args);
      expect(e.code).toBe("INVALID_REQUEST");
      expect(e.text).toStartWith(`INVALID_REQUEST: Invalid arguments for run_docker: ${field}:`);
    }
  });

  test("no docker client on PATH: UPSTREAM_UNAVAILABLE saying it is not installed", async () => {
    await using ex = await startExample("docker", "stdio", { env: { PATH: "/nonexistent-bin" } });
    const e = await ex.error("run_docker", { image: "alpine" });
    expect(e.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(e.text).toContain("docker client is not installed");
  });
});

describe("parley example docker: what reaches the docker client", () => {
  test("docker run --rm with the hardening options, the image after them, then each argument as it was given", async () => {
    using dir = tempDir();
    const fake = fakeDocker(dir.path);
    await using ex = await startExample("docker", "stdio", { env: fake.env });
    const args = [";rm -rf /", "$(id)", "`id`", "--privileged", "a b", "*"];
    const r = await ex.call("run_docker", { image: "alpine:3.20", args });
    expect(r).toMatchObject({ exit_code: 0, stdout: "container ran\n", stderr: "" });
    const [argv] = fake.calls();
    expect(argv!.slice(0, 4)).toEqual(["run", "--rm", "--name", expect.stringMatching(/^parley-example/)]);
    expect(argv!.slice(4, -7)).toEqual(["--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--memory", "256m", "--pids-limit", "64"]);
    expect(argv!.slice(-7)).toEqual(["alpine:3.20", ...args]);
    // The client gets PATH and its own DOCKER_* settings, nothing else of the example's environment.
    expect(readFileSync(join(dir.path, "env"), "utf8")).not.toContain("SECRET_OF_THE_SERVER");
  });

  test("past the time limit the client is killed and the container removed (docker rm --force NAME): INVALID_REQUEST, limit time", async () => {
    using dir = tempDir();
    const fake = fakeDocker(dir.path);
    await using ex = await startExample("docker", "stdio", { env: fake.env });
    const e = await ex.error("run_docker", { image: "alpine", args: ["sleep"], timeout_s: 1 });
    expect(e.code).toBe("INVALID_REQUEST");
    expect(e.detail).toEqual({ limit: "time" });
    const [run, rm] = fake.calls();
    expect(rm).toEqual(["rm", "--force", run![3]!]);
  });

  test("endless output is cut at 1 MiB: INVALID_REQUEST, limit output; the example still serves", async () => {
    using dir = tempDir();
    const fake = fakeDocker(dir.path);
    await using ex = await startExample("docker", "stdio", { env: fake.env });
    const e = await ex.error("run_docker", { image: "alpine", args: ["flood"] });
    expect(e.detail).toEqual({ limit: "output" });
    expect(await ex.call("echo", { message: "alive" })).toEqual({ message: "alive" });
  });
});
