import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import { AppError } from "../../errors.ts";
import type { Gateway } from "../../gateway/index.ts";
import { toToolError } from "../errors.ts";
import type { ToolExtra } from "../tool.ts";

/**
 * A tools/call of an upstream tool (`SERVER_TOOL`), proxied through the gateway: the arguments as
 * given (the upstream validates them), the caller's progress token honoured (each upstream
 * progress notification is sent on as one for the caller's request), its cancellation passed on
 * (the request's signal), and the upstream's result as it is. The caller's token never leaves
 * this server: the gateway speaks to upstreams with its own connection and the config's headers.
 */
export async function callGatewayTool(gateway: Gateway, callerOf: () => { subject: string; grant: readonly string[] }, name: string, args: unknown, extra: ToolExtra): Promise<CallToolResult> {
  try {
    const caller = callerOf();
    if (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args))) {
      throw new AppError("INVALID_REQUEST", `Invalid arguments for ${name}: arguments must be an object`);
    }
    const progressToken = extra._meta?.progressToken;
    const onprogress =
      progressToken === undefined
        ? undefined
        : (progress: Progress) => void extra.sendNotification({ method: "notifications/progress", params: { ...progress, progressToken } }).catch(() => {});
    return await gateway.call(caller, name, args as Record<string, unknown> | undefined, { signal: extra.signal, onprogress });
  } catch (err) {
    // Text only (`CODE: message`): a client checks any structuredContent against the outputSchema
    // the tool declared (the SDK Client fails the call with -32602 when it does not match), and an
    // upstream tool's schema is its own. A client may still hold the schema of a tool a reload took out.
    const { structuredContent: _, ...result } = toToolError(err, name);
    return result;
  }
}
