import { isIP } from "node:net";
import { z } from "zod";
import { CHANNELS, grantEntryKnown } from "../identity.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../lib/log.ts";
import { UpstreamsSchema } from "./upstreams.ts";

/** A grant entry: a server (`battle`, `channels`) or one upstream tool (`battle_echo`, as exposed, at most 64 characters). */
export const GRANT_ENTRY = /^(?=.{1,64}$)[a-z0-9-]{1,32}(_[A-Za-z0-9_-]+)?$/;

/**
 * The one configuration object. Every key has a flag (`--public-url`), an env var
 * (`PARLEY_PUBLIC_URL`) and a TOML key (`public_url`); precedence is in load.ts.
 */
export const ConfigSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.coerce.number().int().min(0).max(65535).default(8201),
    data: z.string().min(1).default("./parley_data"),
    /** What clients see; the OAuth issuer and the MCP resource `…/mcp`. Default http://localhost:PORT. */
    public_url: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * Extra browser origins allowed at /mcp besides loopback and public_url's own origin.
     * Claude and ChatGPT connectors call from these (MCP 2025-11-25 transports: validate Origin).
     */
    allowed_origins: z
      .array(z.url())
      .default(["https://claude.ai", "https://claude.com", "https://chatgpt.com", "https://chat.openai.com"]),
    /** An MCP session unused this long is closed (its client re-initializes and gets a new one). */
    session_idle_seconds: z.coerce.number().int().min(1).default(1800),
    /**
     * Seconds a request's headers and body may take to arrive (Bun's idle timeout: a body must also
     * keep up 16 KiB/s to earn more), and an idle kept-alive connection stays open. Streams and long
     * polls at /mcp are exempt once their request is in. Bun takes at most 255.
     */
    request_timeout_seconds: z.coerce.number().int().min(1).max(255).default(10),
    /**
     * Requests one client address may have in progress at once: being received or handled (a stream
     * already answering does not count). More get 429 and their connection is closed.
     */
    max_requests_per_address: z.coerce.number().int().min(1).max(1_000_000).default(64),
    /**
     * Reverse proxies whose X-Forwarded-For is believed (IP addresses or CIDR blocks). Without them,
     * everyone behind a proxy counts as the proxy's one address.
     */
    trusted_proxies: z.array(z.string().trim().refine(isAddressOrCidr, "expected an IP address or CIDR block (e.g. 10.0.0.0/8)")).default([]),
    /**
     * Most MCP sessions open at once. At the cap a new session closes one from the address, then
     * the identity, holding the most sessions (its least recently used), so a flood evicts itself.
     */
    max_sessions: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    /**
     * Most MCP sessions from one address (an IPv6 address counts as its /64). Each may hold a GET
     * stream open indefinitely, so this bounds one address's open connections; beyond, one of that
     * address's sessions closes (the identity holding the most there, its least recently used).
     */
    max_sessions_per_address: z.coerce.number().int().min(1).max(1_000_000).default(256),
    /** Largest accepted request body at /mcp (bytes). */
    max_body_bytes: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
    /**
     * When set, /authorize shows a consent page asking for it; when unset, sign-in approves at once.
     * Binding a non-loopback host without one prints a warning.
     */
    passcode: z.string().min(4).max(200).optional(),
    /** false only for the MCP conformance suite, which cannot send a token; refused on non-loopback hosts. */
    auth: z
      .union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")])
      .default(true),
    access_token_ttl_seconds: z.coerce.number().int().min(1).max(86_400).default(3600),
    refresh_token_ttl_seconds: z.coerce.number().int().min(60).default(30 * 86_400),
    /**
     * What an OAuth sign-in is granted: "channels" (the built-in tools), upstream names, single
     * upstream tools (`battle_echo`). In TOML also as `[auth] default_servers` (load.ts).
     */
    default_servers: z.array(z.string().regex(GRANT_ENTRY, 'a server ("channels", an upstream) or one upstream tool (SERVER_TOOL)')).default([CHANNELS]),
    /** The gateway's upstream MCP servers (`[[upstream]]` tables; TOML only). */
    upstream: UpstreamsSchema,
    /** Hosts a bot's ctx.fetch may reach (responses are recorded in the transcript); none by default. */
    bot_fetch_hosts: z.array(z.string().regex(/^[a-z0-9.-]+$/i, "a host name")).default([]),
    /** Workers hosting the presets (each runs many bot instances, one hook at a time); 0 = one per CPU core. Inline code runs on a thread of its own. */
    bot_workers: z.coerce.number().int().min(0).max(64).default(0),
    /**
     * Bots kept loaded, presets (~0.4 MiB each) and inline bots counted apart; beyond, the least recently
     * used is let go and reloads on its next hook (~5–30 ms, recorded as bot:reload). Bounds the memory
     * bots take, not how many are live.
     */
    bot_warm_instances: z.coerce.number().int().min(1).max(1_000_000).default(256),
    /**
     * MiB the inline bots may hold together, each its own worker thread (5 MiB) and its whole wasm memory
     * (16 MiB at least, its cap while a hook runs); beyond, the least recently used is let go (a reload,
     * recorded), and a hook that finds no room waits for a running one. Presets are bounded by count.
     */
    bot_warm_memory_mb: z.coerce.number().int().min(64).max(1_048_576).default(1024),
    /** Largest message body a member may post (UTF-8 bytes of the text). */
    max_message_bytes: z.coerce.number().int().min(16).max(1024 * 1024).default(64 * 1024),
    /**
     * Most bytes of messages one answer carries (a sync_messages or get_transcript page, as it goes
     * out); a page stops before the message that would pass it, always holding at least one.
     */
    max_answer_bytes: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Rows of the audit log of upstream calls older than this are deleted (every 5 minutes, leaving a prune row the chain goes on from). */
    audit_retention_days: z.coerce.number().int().min(1).max(36_500).default(90),
    /** At most about this many audit rows are kept (~0.2 KiB each on disk), the oldest deleted first: the log's size is bounded whatever the call rate. */
    audit_max_rows: z.coerce.number().int().min(1000).max(1_000_000_000).default(1_000_000),
    /** Lines on stderr at this level and above: error, warn (bot errors, revoked sign-ins), info (a line per request, sign-ins, channels, start and stop), debug (stacks, /healthz). */
    log_level: z.enum(LOG_LEVELS).default("info"),
    /** text: `TIME LEVEL msg key=value …`; json: one object per line. */
    log_format: z.enum(LOG_FORMATS).default("text"),
  })
  .strict()
  .superRefine((c, ctx) => {
    const servers = [CHANNELS, ...c.upstream.map((u) => u.name)];
    const unknown = c.default_servers.filter((entry) => !grantEntryKnown(servers, entry));
    if (unknown.length > 0) {
      ctx.addIssue({ code: "custom", path: ["default_servers"], message: `${unknown.map((e) => `"${e}"`).join(", ")} is not a server this config defines (${servers.join(", ")}) nor one of their tools` });
    }
  });

/** `10.0.0.1`, `10.0.0.0/8`, `fd00::/8`: what node:net's BlockList takes (http/client-address.ts). */
function isAddressOrCidr(entry: string): boolean {
  const [address = "", prefix, extra] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

export type Config = Readonly<z.infer<typeof ConfigSchema>> & { readonly public_url: string };

/** Config keys, for flag/env derivation and the README table. */
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as (keyof z.infer<typeof ConfigSchema>)[];
