import { z } from "zod";
import { defineTool, type ToolDef } from "../../mcp/index.ts";
import { echoTool } from "./echo.ts";
import { JS_LIMITS, type JsRunner } from "./js.ts";
import { PYTHON_LIMITS, type PythonRunner } from "./python.ts";

/** UTF-8 bytes, the unit the code caps are in. */
const utf8Max = (max: number) => (s: string) => Buffer.byteLength(s) <= max;

/** The `code` example: Python in a child process with limits, JavaScript in the bots' sandbox. */
export function codeTools(python: PythonRunner, js: JsRunner): ToolDef[] {
  const { defaultTimeoutSeconds, maxTimeoutSeconds } = PYTHON_LIMITS;
  return [
    echoTool("code"),
    defineTool({
      name: "run_python_code",
      title: "Run Python code",
      description:
        `Runs a Python 3 program (python3 -I, an empty environment, a fresh working directory removed after) and answers {exit_code, signal?, stdout, stderr, duration_ms}; ` +
        `a program that fails is an answer with its exit code and traceback. Limits: ${defaultTimeoutSeconds} s (timeout_s up to ${maxTimeoutSeconds}), ` +
        `${PYTHON_LIMITS.memoryBytes / 2 ** 20} MiB of address space per process, ${PYTHON_LIMITS.processes} processes, ${PYTHON_LIMITS.outputBytes / 2 ** 20} MiB of output; ` +
        `past the time or output limit the run is killed, and a program that dies of its memory, process or file-size limit (an uncaught MemoryError, BlockingIOError or EFBIG) ` +
        `is not answered as a result: the call fails with INVALID_REQUEST and detail.limit (time, output, memory, processes, file) names the limit. Where python3 is missing, UPSTREAM_UNAVAILABLE.`,
      input: z.object({
        code: z
          .string()
          .min(1)
          .refine(utf8Max(PYTHON_LIMITS.codeBytes), `at most ${PYTHON_LIMITS.codeBytes / 1024} KiB of UTF-8`)
          .describe(`The program (the file main.py), at most ${PYTHON_LIMITS.codeBytes / 1024} KiB`),
        timeout_s: z.number().int().min(1).max(maxTimeoutSeconds).optional().describe(`Seconds it may run, 1–${maxTimeoutSeconds}; default ${defaultTimeoutSeconds}`),
      }),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
      run: ({ code, timeout_s = defaultTimeoutSeconds }, { signal }) => python.run(code, timeout_s, signal),
    }),
    defineTool({
      name: "run_js_code",
      title: "Run JavaScript code",
      description:
        "Evaluates JavaScript (strict mode) in the QuickJS sandbox the referee bots run in, with a bot's limits; answers {value, output} " +
        "(the completion value of the code as text, and its console output) or {error, output} when it throws. No I/O, no network, no timers; " +
        "Date.now() is the call's time. Past a sandbox limit (instructions, memory, stack, time) or " +
        `${JS_LIMITS.outputChars / 1024} Ki characters of output the call fails with INVALID_REQUEST.`,
      input: z.object({
        code: z
          .string()
          .min(1)
          .refine(utf8Max(JS_LIMITS.codeBytes), `at most ${JS_LIMITS.codeBytes / 1024} KiB of UTF-8`)
          .describe(`The code, at most ${JS_LIMITS.codeBytes / 1024} KiB; its last expression is the value`),
      }),
      annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
      run: ({ code }) => js.run(code),
    }),
  ];
}
