/**
 * Worker entry: runs one bot off the main event loop. QuickJS polls its interrupt handler only every
 * ~10k operations, and one poll can be seconds after the last (shared/notes §2.2), so a bot must never
 * run on the thread that answers MCP requests; the runner terminates this worker as the last resort.
 *
 * In a `bun build --compile` binary this file must be a second entrypoint of the build
 * (`bun build --compile src/main.ts src/sandbox/worker.ts …`); runner.ts finds it there.
 */
import { BotInstance, type BotFailure, type HookInput, type HookOutcome, type InstanceOptions } from "./instance.ts";

// QuickJS takes its zone offset from localtime_r, which emscripten answers with this thread's
// Date#getTimezoneOffset (notes §2.6). A bot must see UTC on every host, and a Bun worker cannot
// change its own zone (setting process.env.TZ here had no effect under Bun 1.4.5), so this thread,
// which only runs bots, answers UTC itself.
Date.prototype.getTimezoneOffset = function getTimezoneOffset() {
  return 0;
};

export type WorkerRequest =
  | { type: "init"; wasm: WebAssembly.Module; options: InstanceOptions }
  | ({ type: "hook"; id: number } & HookInput);

export type WorkerReply =
  | { type: "ready"; error?: BotFailure; manifest: string | null }
  | ({ type: "result"; id: number; reloaded: boolean } & HookOutcome);

declare const self: Worker;

let init: Extract<WorkerRequest, { type: "init" }> | undefined;
let instance: BotInstance | undefined;

async function load(): Promise<BotFailure | undefined> {
  try {
    const loaded = await BotInstance.load(init!.wasm, init!.options);
    if ("error" in loaded) return loaded.error;
    instance = loaded.instance;
    return undefined;
  } catch (err) {
    // The prelude itself failed (an engine fault, or limits too small for it): answer, never hang.
    return { reason: "exception", message: `the engine failed to start: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200) };
  }
}

function reply(message: WorkerReply): void {
  self.postMessage(message);
}

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  if (request.type === "init") {
    init = request;
    const error = await load();
    reply({ type: "ready", error, manifest: instance?.manifest ?? null });
    return;
  }
  // The runner sends one request at a time, so nothing interleaves with the await below.
  const reloaded = instance === undefined;
  if (reloaded) {
    const error = await load();
    if (error) return reply({ type: "result", id: request.id, reloaded, outputs: [], state: request.state, error, polls: 0, memoryBytes: 0 });
  }
  let outcome: HookOutcome;
  try {
    outcome = instance!.run(request);
  } catch (err) {
    // The engine itself failed (a wasm trap or abort): this instance is unusable whatever the cause.
    instance!.blown = true;
    const message = `the engine aborted: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200);
    outcome = { outputs: [], state: request.state, error: { reason: "exception", message }, polls: 0, memoryBytes: 0 };
  }
  if (instance!.blown) {
    instance!.dispose();
    instance = undefined;
  }
  reply({ type: "result", id: request.id, reloaded, ...outcome });
};
