export { Gateway, type GatewayCaller, type GatewayOptions, type UpstreamStatus } from "./gateway.ts";
export { NO_HOOKS, type CallRecord, type GatewayHooks } from "./hooks.ts";
export { exposedName, TOOL_NAME } from "./names.ts";
export { selfCommand } from "./upstream-process.ts";
export type { UpstreamState } from "./upstream.ts";
