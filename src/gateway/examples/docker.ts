import { z } from "zod";
import { AppError } from "../../errors.ts";
import { log } from "../../lib/log.ts";
import { randomToken } from "../../lib/ids.ts";
import { defineTool, type ToolDef } from "../../mcp/index.ts";
import { startChild, type ChildOutcome } from "./child-process.ts";
import { echoTool } from "./echo.ts";
import { executablesOnPath, limitExceeded, RunGate } from "./runs.ts";

/** The limits of one run_docker call (README: Example upstreams). */
export const DOCKER_LIMITS = {
  defaultTimeoutSeconds: 60,
  maxTimeoutSeconds: 300,
  outputBytes: 1024 * 1024,
  maxArgs: 64,
  maxArgChars: 4096,
  concurrent: 4,
} as const;

/**
 * An image reference as Docker's reference grammar gives it: an optional registry host (with a
 * dot or a port, or `localhost`), lowercase path components, an optional tag, an optional sha256
 * digest. It starts with a letter or digit, so it can never be read as an option of `docker run`.
 */
const DOMAIN = String.raw`(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+|localhost)(?::[0-9]{1,5})?/|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9]{1,5}/)`;
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
export const IMAGE_REFERENCE = new RegExp(`^(?:${DOMAIN})?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
export const MAX_IMAGE_CHARS = 255 + 72;

/**
 * What every container gets: removed when it ends, no network, no capabilities, no privilege
 * escalation, bounded memory and processes. A model asked to run something needs none of these.
 */
const CONTAINER_OPTIONS = ["--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--memory", "256m", "--pids-limit", "64"];

/** What the docker client reads from its environment (which engine, its TLS); nothing else of ours reaches it. */
const CLIENT_ENV = ["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION"];

/** The client's words when no engine answers (a socket that is not there, a refused or unreachable host). */
const NO_ENGINE = /Cannot connect to the Docker daemon|error during connect|Is the docker daemon running|connect: (?:no such file|connection refused|permission denied)|dial (?:unix|tcp)/i;

export interface DockerResult {
  exit_code: number | null;
  stdout: string;
  stderr: string;
  duration_ms: number;
}

export class DockerRunner {
  private readonly gate = new RunGate("run_docker", DOCKER_LIMITS.concurrent);

  /** `env`: the example process's environment; the client gets only CLIENT_ENV of it. */
  constructor(private readonly env: Record<string, string | undefined>) {}

  run(image: string, args: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<DockerResult> {
    return this.gate.run(() => this.runNow(image, args, timeoutSeconds, signal));
  }

  private async runNow(image: string, args: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<DockerResult> {
    const docker = executablesOnPath("docker", this.env.PATH)[0];
    if (!docker) throw new AppError("UPSTREAM_UNAVAILABLE", `The docker client is not installed here (no docker on PATH ${this.env.PATH || "(unset)"})`);
    const env = Object.fromEntries(CLIENT_ENV.flatMap((k) => (this.env[k] ? [[k, this.env[k]!]] : [])));
    // Named, so that a run stopped early removes its container: killing the client leaves it running.
    const name = randomToken("parley-example"); // base64url: a valid container name
    let removing: Promise<unknown> | undefined;
    const outcome = await startChild({
      // `image` is checked against IMAGE_REFERENCE and comes after every option, so neither it nor
      // any argument after it is read by docker as an option; there is no shell to read them either.
      argv: [docker, "run", "--rm", "--name", name, ...CONTAINER_OPTIONS, image, ...args],
      env,
      timeoutMs: timeoutSeconds * 1000,
      maxOutputBytes: DOCKER_LIMITS.outputBytes,
      signal,
      onStop: () => {
        removing = removeContainer(docker, env, name);
      },
    });
    await removing;
    return answer(outcome, timeoutSeconds);
  }
}

function answer(outcome: ChildOutcome, timeoutSeconds: number): DockerResult {
  if (outcome.stopped === "time") throw limitExceeded("time", `docker run went past its time limit of ${timeoutSeconds} s; the container was removed`);
  if (outcome.stopped === "output") throw limitExceeded("output", `docker run wrote more than ${DOCKER_LIMITS.outputBytes / 1024 / 1024} MiB of output; the container was removed`);
  if (outcome.stopped === "cancelled") throw new AppError("INVALID_REQUEST", "The call was cancelled; the container was removed");
  // docker run exits 125 when the client or the engine failed, before any container ran.
  if (outcome.exitCode === 125 && NO_ENGINE.test(outcome.stderr)) {
    const said = outcome.stderr.split("\n").find((line) => NO_ENGINE.test(line))?.trim() ?? "";
    throw new AppError("UPSTREAM_UNAVAILABLE", `No Docker engine is reachable from this server (the docker client is installed; it said: ${said.slice(0, 300)})`);
  }
  return { exit_code: outcome.exitCode, stdout: outcome.stdout, stderr: outcome.stderr, duration_ms: outcome.durationMs };
}

/** `docker rm -f NAME`, bounded; a container that never started is not an error. */
async function removeContainer(docker: string, env: Record<string, string>, name: string): Promise<void> {
  try {
    const outcome = await startChild({ argv: [docker, "rm", "--force", name], env, timeoutMs: 15_000, maxOutputBytes: 64 * 1024 });
    if (outcome.exitCode !== 0 && !/No such container/i.test(outcome.stderr)) {
      log.warn("could not remove a docker example's container", { name, stderr: outcome.stderr.trim().slice(0, 300) });
    }
  } catch (err) {
    log.warn("could not remove a docker example's container", { name, err });
  }
}

/** The `docker` example: one container run per call, through the docker client. */
export function dockerTools(docker: DockerRunner): ToolDef[] {
  const { defaultTimeoutSeconds, maxTimeoutSeconds, maxArgs, maxArgChars } = DOCKER_LIMITS;
  return [
    echoTool("docker"),
    defineTool({
      name: "run_docker",
      title: "Run a container",
      description:
        `Runs \`docker run --rm IMAGE ARGS…\` (no network, no capabilities, 256 MiB, 64 processes) and answers {exit_code, stdout, stderr, duration_ms}. ` +
        `Each argument is passed to the container as it is (no shell). Limits: ${defaultTimeoutSeconds} s (timeout_s up to ${maxTimeoutSeconds}), ` +
        `${DOCKER_LIMITS.outputBytes / 2 ** 20} MiB of output; past either the container is removed and the call fails with INVALID_REQUEST. ` +
        "Where no Docker engine is reachable the call fails with UPSTREAM_UNAVAILABLE.",
      input: z.object({
        image: z
          .string()
          .max(MAX_IMAGE_CHARS)
          .regex(IMAGE_REFERENCE, "an image reference: [REGISTRY/]NAME[:TAG][@sha256:DIGEST], lowercase name components")
          .describe("The image, e.g. alpine:3.20 or ghcr.io/owner/name@sha256:…"),
        args: z
          .array(z.string().max(maxArgChars).refine((a) => !a.includes("\0"), "an argument cannot hold a NUL character"))
          .max(maxArgs)
          .default([])
          .describe(`The container's command and its arguments, at most ${maxArgs} of at most ${maxArgChars} characters each`),
        timeout_s: z.number().int().min(1).max(maxTimeoutSeconds).optional().describe(`Seconds it may run, 1–${maxTimeoutSeconds}; default ${defaultTimeoutSeconds}`),
      }),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
      run: ({ image, args, timeout_s = defaultTimeoutSeconds }, { signal }) => docker.run(image, args, timeout_s, signal),
    }),
  ];
}
