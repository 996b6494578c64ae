/**
 * A bot's manifest: what `bot:attach` names and hashes (`manifest_hash`). It lives in the bot's own
 * source as `export const manifest = { name, version, description, rules }` beside the default
 * export, so it is covered by the code hash, reads the same for presets and inline code, and needs
 * no second file. The sandbox reads it when it evaluates the module; a module without one has none.
 */
import { z } from "zod";

export const BotManifestSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/),
    version: z.string().regex(/^\d+\.\d+\.\d+$/),
    description: z.string().min(1).max(500),
    /** The rules, written for an AI that reads them before it plays. */
    rules: z.string().max(8_000).optional(),
  })
  .strict();

export type BotManifest = z.infer<typeof BotManifestSchema>;

/** The longest manifest JSON accepted, in characters. */
export const MAX_MANIFEST_CHARS = 16 * 1024;
