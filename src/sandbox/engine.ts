/**
 * The QuickJS engine: one compiled wasm module per process, one instance per bot.
 *
 * - The .wasm is imported `with { type: "file" }` so `bun build --compile` embeds it; the variant's
 *   default loader looks for it beside the JS and fails inside the binary (ENOENT on
 *   /$bunfs/root/emscripten-module.wasm; test/e2e/binary.test.ts runs a bot in the binary).
 * - Each bot instance gets its own WebAssembly.Memory with a hard maximum. QuickJS's setMemoryLimit
 *   counts allocations, not bytes, in this build, and one bot grew a shared heap to 2 GiB; wasm memory
 *   never shrinks, so an instance that blew up is dropped, never reused.
 */
import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule } from "quickjs-emscripten-core";
import releaseSync from "@jitl/quickjs-wasmfile-release-sync";
import wasmPath from "@jitl/quickjs-wasmfile-release-sync/wasm" with { type: "file" };
import { MIN_MEMORY_PAGES } from "./limits.ts";

/**
 * Recorded in `bot:attach` (`engine`): a replay must run the same engine build, the same realm
 * (prelude.ts) and the same default limits; bump the realm number when either changes.
 */
export const ENGINE_ID = "quickjs-2025-09-13+quickjs-emscripten-0.32.0-release-sync+parley-realm-2";

let compiled: Promise<WebAssembly.Module> | undefined;

/** The compiled wasm module, compiled once per process (13–23 ms) and posted to each worker. */
export function compiledEngine(): Promise<WebAssembly.Module> {
  compiled ??= Bun.file(wasmPath)
    .arrayBuffer()
    .then((bytes) => WebAssembly.compile(bytes));
  return compiled;
}

export interface EngineInstance {
  quickjs: QuickJSWASMModule;
  memory: WebAssembly.Memory;
}

/** A fresh wasm instance with its own memory capped at `maxPages` × 64 KiB. */
export async function newEngineInstance(wasmModule: WebAssembly.Module, maxPages: number): Promise<EngineInstance> {
  // `initial` below the build's 256 pages fails to link, and that failure never settles the promise.
  const memory = new WebAssembly.Memory({ initial: MIN_MEMORY_PAGES, maximum: Math.max(maxPages, MIN_MEMORY_PAGES) });
  const quickjs = await newQuickJSWASMModuleFromVariant(newVariant(releaseSync, { wasmModule, wasmMemory: memory }));
  return { quickjs, memory };
}
