/**
 * The built-in bots, embedded in the binary as source text: a preset is exactly a bot_code the
 * server supplies, hashed and announced like any other.
 */
// TypeScript cannot type a text import of a .js file (TS7016); Bun gives its source as a string.
// @ts-expect-error TS7016
import blackjack from "../../bots/blackjack.js" with { type: "text" };
// @ts-expect-error TS7016
import dice from "../../bots/dice.js" with { type: "text" };
// @ts-expect-error TS7016
import echo from "../../bots/echo.js" with { type: "text" };
// @ts-expect-error TS7016
import guess from "../../bots/guess.js" with { type: "text" };
// @ts-expect-error TS7016
import rps from "../../bots/rps.js" with { type: "text" };

export const PRESETS: ReadonlyMap<string, string> = new Map<string, string>([
  ["GuessBot", guess as string],
  ["BlackjackBot", blackjack as string],
  ["EchoBot", echo as string],
  ["DiceBot", dice as string],
  ["RPSBot", rps as string],
]);

const PRESET_SOURCES = new Set(PRESETS.values());

/** Code we wrote (byte for byte a preset): it may share worker threads with other channels' bots. */
export function isPresetCode(code: string): boolean {
  return PRESET_SOURCES.has(code);
}
