// Bun turns an import `with { type: "file" }` into the asset's path (embedded by `bun build --compile`).
declare module "@jitl/quickjs-wasmfile-release-sync/wasm" {
  const path: string;
  export default path;
}
