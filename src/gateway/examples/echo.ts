import { z } from "zod";
import { defineTool, type ToolDef } from "../../mcp/index.ts";

export const ECHO_MAX_CHARS = 64 * 1024;

/** `echo`, on every example: the prototype's first tool, and the cheapest call there is (the gateway's bench uses it). */
export function echoTool(server: string): ToolDef {
  return defineTool({
    name: "echo",
    title: "Echo",
    description: `Answers {message} with the message it was given (the ${server} example's connectivity check).`,
    input: z.object({ message: z.string().max(ECHO_MAX_CHARS).describe(`Any text, at most ${ECHO_MAX_CHARS} characters`) }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: async ({ message }) => ({ message }),
  });
}
