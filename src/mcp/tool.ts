import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { Caller } from "../channels/index.ts";

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolCall {
  caller: Caller;
  signal: AbortSignal;
  extra: ToolExtra;
}

/**
 * One MCP tool: its zod input schema is the validator (we validate, not the SDK, so bad arguments
 * answer `INVALID_REQUEST: …`), and its JSON Schema for tools/list.
 * `run` returns a plain object (sent as JSON text + structuredContent) or, with `raw`, a CallToolResult.
 */
export interface ToolDef<S extends z.ZodType = z.ZodType> {
  name: string;
  title?: string;
  description: string;
  input: S;
  annotations?: ToolAnnotations;
  raw?: boolean;
  run(args: z.infer<S>, call: ToolCall): Promise<unknown>;
}

export function defineTool<S extends z.ZodType>(def: ToolDef<S>): ToolDef {
  return def as unknown as ToolDef;
}

/** The plain-object result of a tool as MCP content: JSON text for any client, structuredContent for programs. */
export function jsonResult(value: unknown): CallToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(value) }],
    structuredContent: value as Record<string, unknown>,
  };
}
