import { join } from "node:path";
import { z } from "zod";
import { AppError } from "../../errors.ts";
import { defineTool, type ToolDef } from "../../mcp/index.ts";
import { BattleLog, type BattleEventDraft } from "../../store/index.ts";
import { echoTool } from "./echo.ts";

/** The limits of the battle example (README: Example upstreams). */
export const BATTLE_LIMITS = {
  idChars: 64,
  messageChars: 4096,
  nameChars: 100,
  detailChars: 4096,
  markdownChars: 64 * 1024,
  eventsPerBattle: 10_000,
  /** Events one get_battle_log answer carries at most, and the default. */
  pageEvents: 1000,
  defaultPageEvents: 100,
  /** Characters of events (as JSON) one answer carries at most (at least one event). */
  pageChars: 512 * 1024,
} as const;

/**
 * A battle id names a row, never a file; it is still held to a plain word (letters, digits, `_`,
 * `-`; no dots, slashes, spaces or control characters), so no id can be a path trick anywhere it
 * is ever used, or spoof a line of a log.
 */
export const BATTLE_ID = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, "a battle id is letters, digits, _ and -, starting with a letter or digit")
  .max(BATTLE_LIMITS.idChars)
  .describe(`The battle: 1–${BATTLE_LIMITS.idChars} of A-Z a-z 0-9 _ -, starting with a letter or digit`);

const text = (max: number, what: string, min = 0) => z.string().min(min).max(max).describe(`${what}, at most ${max} characters`);
const name = (what: string) => z.string().min(1).max(BATTLE_LIMITS.nameChars).describe(`${what}, 1–${BATTLE_LIMITS.nameChars} characters`);

/** The battle example's file: `DATA/examples/battle.db`. */
export function battleLogDir(dataDir: string): string {
  return join(dataDir, "examples");
}

/**
 * The `battle` example: the argument shapes of the agent-battle servers the prototype fronted
 * (progress reports while a battle runs, one report of its end, its log), kept in SQLite.
 */
export function battleTools(log: BattleLog): ToolDef[] {
  const append = (battleId: string, draft: BattleEventDraft) => {
    const outcome = log.append(battleId, draft, BATTLE_LIMITS.eventsPerBattle);
    if (outcome.ok) return { battle_id: battleId, event_id: outcome.event.id, ts: outcome.event.ts };
    if (outcome.reason === "ended") {
      const { ts, winner } = outcome.end;
      throw new AppError("INVALID_REQUEST", `Battle "${battleId}" ended at ${ts} (winner: ${winner}); it takes no more reports`, { detail: { ended_at: ts, winner } });
    }
    throw new AppError("INVALID_REQUEST", `Battle "${battleId}" holds ${outcome.events} events, the most one battle keeps`);
  };
  return [
    echoTool("battle"),
    defineTool({
      name: "update_battle_process",
      title: "Report battle progress",
      description: "Records a progress report of a running battle (who reported it, what happened); answers {battle_id, event_id, ts}.",
      input: z.object({
        battle_id: BATTLE_ID,
        message: text(BATTLE_LIMITS.messageChars, "What happened", 1),
        reported_by: name("Who reports it (an agent's name)"),
        detail: text(BATTLE_LIMITS.detailChars, "More detail").optional(),
        markdown_content: text(BATTLE_LIMITS.markdownChars, "A Markdown report").optional(),
      }),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ battle_id, message, reported_by, detail, markdown_content }) =>
        append(battle_id, { kind: "update", message, reported_by, detail, markdown_content }),
    }),
    defineTool({
      name: "report_on_battle_end",
      title: "Report a battle's end",
      description: "Records the end of a battle and its winner; the battle takes no more reports after it. Answers {battle_id, event_id, ts}.",
      input: z.object({
        battle_id: BATTLE_ID,
        winner: name("The winner"),
        detail: text(BATTLE_LIMITS.detailChars, "More detail").optional(),
        markdown_content: text(BATTLE_LIMITS.markdownChars, "A Markdown report").optional(),
      }),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ battle_id, winner, detail, markdown_content }) => append(battle_id, { kind: "end", winner, detail, markdown_content }),
    }),
    defineTool({
      name: "get_battle_log",
      title: "Read a battle's log",
      description:
        "A battle's events, oldest first, with their timestamps: {battle_id, status (unknown, in_progress or ended), events, cursor, more}. With more: true, call again with the cursor.",
      input: z.object({
        battle_id: BATTLE_ID,
        cursor: z.number().int().min(0).optional().describe("The cursor of the previous answer (events after it); default 0, from the start"),
        limit: z.number().int().min(1).max(BATTLE_LIMITS.pageEvents).optional().describe(`Events at most, 1–${BATTLE_LIMITS.pageEvents}; default ${BATTLE_LIMITS.defaultPageEvents}`),
      }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
      run: async ({ battle_id, cursor = 0, limit = BATTLE_LIMITS.defaultPageEvents }) => {
        const page = log.page(battle_id, cursor, limit, BATTLE_LIMITS.pageChars);
        return { battle_id, status: page.status, events: page.events, cursor: page.events.at(-1)?.id ?? cursor, more: page.more };
      },
    }),
  ];
}
