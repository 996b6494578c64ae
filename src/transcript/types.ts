import { z } from "zod";

/** A message as it appears in a transcript; `redacted` stands in for a private message the reader may not see. */
export const TranscriptMessageSchema = z.union([
  z.object({
    id: z.number().int().positive(),
    channel_id: z.string(),
    sender: z.string(),
    kind: z.enum(["user", "bot", "system", "control"]),
    body: z.record(z.string(), z.unknown()),
    ts: z.string(),
    to_slot: z.string().nullable(),
    reply_to: z.number().int().positive().optional(),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  z.object({ id: z.number().int().positive(), redacted: z.literal(true), to_slot: z.string(), hash: z.string().regex(/^[0-9a-f]{64}$/) }),
]);

export const TranscriptBotSchema = z.object({
  bot_id: z.string(),
  code: z.string(),
  name: z.string(),
  version: z.string(),
  manifest: z.record(z.string(), z.unknown()),
  params: z.record(z.string(), z.unknown()),
  engine: z.string(),
  code_hash: z.string(),
  manifest_hash: z.string(),
  seed_commit: z.string(),
  /** Revealed only once the channel is closed. */
  seed: z.string().optional(),
});

export const TranscriptSignatureSchema = z.object({
  alg: z.literal("EdDSA"),
  kid: z.string(),
  /** The server's public key (also at /.well-known/jwks.json). */
  jwk: z.object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string() }).loose(),
  /** base64url Ed25519 signature over signaturePayload(transcript). */
  value: z.string(),
});

export const TranscriptSchema = z.object({
  format: z.literal("parley-transcript/1"),
  channel: z.object({ id: z.string(), name: z.string(), status: z.enum(["open", "closed"]), created_at: z.string() }),
  issuer: z.string(),
  messages: z.array(TranscriptMessageSchema),
  bots: z.array(TranscriptBotSchema),
  head: z.string().regex(/^[0-9a-f]{64}$/),
  signed_at: z.string(),
  signature: TranscriptSignatureSchema,
});

export type Transcript = z.infer<typeof TranscriptSchema>;
export type TranscriptMessage = z.infer<typeof TranscriptMessageSchema>;
export type TranscriptSignature = z.infer<typeof TranscriptSignatureSchema>;
export type UnsignedTranscript = Omit<Transcript, "signature">;
