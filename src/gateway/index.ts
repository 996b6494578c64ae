// Pinned tool definitions and the audit log of upstream calls (issue 11 items 4 and 5).
export { ToolPins, digest, MAX_PINS_PER_UPSTREAM, PINNED_FIELDS, type ApprovedPin, type PinCheck, type PinView, type ToolDefinition } from "./pins.ts";
export { definitionDiff } from "./definition-diff.ts";
export { AuditLog, type AuditCall, type AuditMethod, type AuditOptions, type AuditOutcome } from "./audit.ts";
export { AUDIT_GENESIS, auditHash, describeAuditRow, verifyAuditLog, type AuditVerdict } from "./audit-chain.ts";
export { Gateway, type GatewayCaller, type GatewayOptions } from "./gateway.ts";
export type { UpstreamStatus } from "./status.ts";
export { audited, NO_HOOKS, pinAndAuditHooks, recordInAudit, type CallRecord, type GatewayHooks } from "./hooks.ts";
export type { ReloadSummary } from "./reload.ts";
export { exposedName, TOOL_NAME } from "./names.ts";
export { selfCommand } from "./upstream-process.ts";
export type { UpstreamState } from "./upstream.ts";
