import { canonicalJson } from "../lib/canonical-json.ts";
import { chainInput, genesisInput, sha256Hex } from "./chain.ts";
import { verifySignature } from "./sign.ts";
import { TranscriptSchema, type Transcript } from "./types.ts";

export interface VerifyOptions {
  /** Keys the server publishes (/.well-known/jwks.json); without them only the embedded key is used. */
  trustedKeys?: { kid?: string; x?: string }[];
  /** Re-runs the bots over the transcript; returns null when every bot message matches, else the first mismatch. */
  replay?: (t: Transcript) => Promise<string | null>;
}

export interface VerifyReport {
  ok: boolean;
  /** What was checked, in order, for the user to read. */
  checks: string[];
  /** The first failure, when ok is false. */
  failure?: string;
}

/** Parses and checks a transcript (format: src/transcript/README.md): chain, head, signature, bot code/manifest hashes, seeds. */
export async function verifyTranscript(input: unknown, options: VerifyOptions = {}): Promise<VerifyReport> {
  const checks: string[] = [];
  const fail = (failure: string): VerifyReport => ({ ok: false, checks, failure });

  const parsed = TranscriptSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return fail(`not a Parley transcript: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const t = parsed.data;

  let prev = await sha256Hex(genesisInput(t.channel.id));
  let lastId = 0;
  let redacted = 0;
  for (const m of t.messages) {
    if (m.id <= lastId) return fail(`message ${m.id} comes after message ${lastId}: ids must strictly increase (reordered?)`);
    lastId = m.id;
    if ("redacted" in m) {
      // A private message the reader may not see: its hash is taken as given; the next link still checks it.
      redacted++;
    } else {
      if (m.channel_id !== t.channel.id) return fail(`message ${m.id} belongs to channel ${m.channel_id}, not ${t.channel.id}`);
      const expected = await sha256Hex(chainInput(prev, m));
      if (expected !== m.hash) return fail(`message ${m.id}: hash mismatch: its content or its predecessor changed (message altered, dropped or reordered)`);
    }
    prev = m.hash;
  }
  if (prev !== t.head) return fail(`head ${t.head.slice(0, 12)}… does not match the last message's hash ${prev.slice(0, 12)}… (messages dropped or added at the end?)`);
  checks.push(`hash chain: ${t.messages.length} messages from the channel's genesis to the head${redacted ? ` (${redacted} private messages redacted, their hashes taken as given)` : ""}`);

  const attaches = new Map<unknown, FullMessage>();
  for (const m of t.messages.filter(isAttach)) if (!attaches.has(m.body.bot_id)) attaches.set(m.body.bot_id, m);
  const announced = checkAnnouncements(t, attaches);
  if (announced) return fail(announced);
  for (const bot of t.bots) {
    if (`sha256:${await sha256Hex(bot.code)}` !== bot.code_hash) return fail(`bot ${bot.bot_id}: code does not match its code_hash`);
    if (`sha256:${await sha256Hex(canonicalJson(bot.manifest))}` !== bot.manifest_hash) return fail(`bot ${bot.bot_id}: manifest does not match its manifest_hash`);
    if (bot.seed !== undefined && `sha256:${await sha256Hex(bot.seed)}` !== bot.seed_commit) return fail(`bot ${bot.bot_id}: revealed seed does not match its commitment`);
    checks.push(`bot ${bot.bot_id}: announced at message ${attaches.get(bot.bot_id)!.id}; code and manifest hashes match${bot.seed !== undefined ? ", seed matches its commitment" : ", seed not yet revealed (channel open)"}`);
  }
  if (options.trustedKeys) {
    const published = options.trustedKeys.find((k) => k.kid === t.signature.kid);
    if (!published) return fail(`signed with key ${t.signature.kid}, which the server does not publish`);
    if (published.x !== t.signature.jwk.x) return fail(`the embedded key differs from the published key ${t.signature.kid}`);
  }
  if (!(await verifySignature(t, t.signature.jwk))) return fail("signature does not verify: the signed fields (channel, head, bots, …) were changed");
  checks.push(`signature: Ed25519 by key ${t.signature.kid} (${options.trustedKeys ? "matches the server's published JWKS" : "embedded key only; add --jwks SERVER_URL to check it is the server's"})`);

  if (options.replay) {
    const mismatch = await options.replay(t);
    if (mismatch) return fail(mismatch);
    checks.push("replay: every bot message reproduced exactly");
  }
  return { ok: true, checks };
}

const ANNOUNCED = ["name", "version", "code_hash", "manifest_hash", "seed_commit", "engine"] as const;

type FullMessage = Exclude<Transcript["messages"][number], { redacted: true }>;
const isAttach = (m: Transcript["messages"][number]): m is FullMessage => !("redacted" in m) && m.kind === "system" && m.body.type === "bot:attach";

/**
 * The players judged each bot by its bot:attach message (in the chain, before they joined); the
 * transcript's `bots` must be exactly those bots, as announced. Otherwise a server could replay
 * other code than it announced, or leave out a bot so that nothing checks what it said.
 */
function checkAnnouncements(t: Transcript, attaches: Map<unknown, FullMessage>): string | null {
  for (const [botId, m] of attaches) {
    if (!t.bots.some((b) => b.bot_id === botId)) return `bot ${String(botId)} announced at message ${m.id} is missing from the transcript's bots`;
  }
  for (const bot of t.bots) {
    const attach = attaches.get(bot.bot_id);
    if (!attach) return `bot ${bot.bot_id}: no bot:attach message announces it`;
    for (const key of ANNOUNCED) {
      if (attach.body[key] !== bot[key]) return `bot ${bot.bot_id}: ${key} differs from its announcement at message ${attach.id}`;
    }
    if (canonicalJson(attach.body.params ?? {}) !== canonicalJson(bot.params)) return `bot ${bot.bot_id}: params differ from its announcement at message ${attach.id}`;
  }
  return null;
}
