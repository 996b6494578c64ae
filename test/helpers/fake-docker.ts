import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A stand-in `docker` client in `dir` (a shell script): each invocation's argv is recorded
 * (NUL-separated, so every argument is seen exactly), a `run` also records its environment
 * (`dir/env`) and acts by its last argument: `sleep` runs for a minute, `flood` writes without
 * end, anything else prints "container ran". No engine is needed to see what the example asks of one.
 */
export function fakeDocker(dir: string): { env: Record<string, string>; calls(): string[][] } {
  const calls = join(dir, "calls");
  mkdirSync(calls, { recursive: true });
  const script = `#!/bin/sh
printf '%s\\0' "$@" > "${calls}/$(date +%s%N)-$$"
[ "$1" = run ] || exit 0
/usr/bin/env > "${dir}/env"
for last; do :; done
case "$last" in
  sleep) exec /bin/sleep 60 ;;
  flood) exec /usr/bin/yes ;;
esac
echo "container ran"
`;
  writeFileSync(join(dir, "docker"), script);
  chmodSync(join(dir, "docker"), 0o755);
  return {
    env: { PATH: `${dir}:/usr/bin:/bin`, SECRET_OF_THE_SERVER: "s3cret" },
    calls: () =>
      readdirSync(calls)
        .sort()
        .map((f) => readFileSync(join(calls, f), "utf8").split("\0").slice(0, -1)),
  };
}
