/**
 * Bad input against the real server over HTTP. Every case checks three things:
 *  1. the precise error: a tool error whose text starts with its stable code (README: Errors) (and names
 *     what was wrong), or the exact HTTP status and JSON-RPC error for transport-level refusals;
 *  2. the server keeps serving (a fresh health_check on a long-lived session, and a raw session
 *     opened before the case still answers);
 *  3. nothing stored changed: the full message logs and channel views of every fixture channel and
 *     every fixture member's list_channels are exactly what they were before the case.
 * At the end, the secrets the cases tried to abuse (an unredeemed invite, a current rejoin token)
 * must still work: failed calls must not have burnt them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { connect, type TestClient } from "../helpers/mcp-client.ts";
import { signIn } from "../helpers/oauth.ts";
import { startServer, type ServerProcess } from "../helpers/start-server.ts";

const MESSAGE_LIMIT = 64 * 1024; // config max_message_bytes default
const BODY_LIMIT = 1024 * 1024; // config max_body_bytes default

let server: ServerProcess;
let alice: TestClient; // creator + admin of `main` and `closed`, seated in s0 of both
let bob: TestClient; // seated in main/s1, not an admin
let eve: TestClient; // member of nothing of alice's; admin (without a seat) of her own channel

/** The fixture: ids and secrets the bad inputs aim at. */
const fx = {
  main: "",
  closed: "",
  evesOwn: "",
  /** main/s1, already redeemed by bob. */
  bobInvite: "",
  /** main/s2 ("carol"), never redeemed. */
  carolInvite: "",
  /** bob's first rejoin token; rotated away by his second join. */
  staleRejoin: "",
  /** bob's current rejoin token. */
  bobRejoin: "",
  /** closed/s1, never redeemed; its channel is closed. */
  closedInvite: "",
};

/** A raw (fetch-level) session opened before the cases, to prove raw clients keep working too. */
let rawSid = "";

const ACCEPT = "application/json, text/event-stream";
const JSON_HEADERS = { accept: ACCEPT, "content-type": "application/json" };
const initializeBody = (id: number | string = 1) => ({
  jsonrpc: "2.0",
  id,
  method: "initialize",
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw-fetch", version: "1.0.0" } },
});

/** A signed-in bearer for the raw (fetch-level) requests; every /mcp request needs one. */
let rawAuth: Record<string, string> = {};

function post(body: unknown, headers: Record<string, string> = {}, sid?: string, chunked = false): Promise<Response> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return fetch(server.mcpUrl, {
    method: "POST",
    headers: { ...JSON_HEADERS, ...rawAuth, ...(sid ? { "mcp-session-id": sid, "mcp-protocol-version": LATEST_PROTOCOL_VERSION } : {}), ...headers },
    // A stream body goes out chunked, with no Content-Length (Bun buffers a Blob's stream; this one it cannot).
    body: chunked ? chunkedBody(text) : text,
    ...(chunked ? { duplex: "half" } : {}),
  });
}

function chunkedBody(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** JSON-RPC messages carried in an SSE response body (`data:` lines). */
async function sseMessages(res: Response): Promise<any[]> {
  const text = await res.text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).trim())
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

/** initialize + notifications/initialized over plain fetch; returns the session id. */
async function rawSession(headers: Record<string, string> = {}): Promise<string> {
  const res = await post(initializeBody(), headers);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/event-stream");
  const sid = res.headers.get("mcp-session-id");
  expect(sid).toBeTruthy();
  const [init] = await sseMessages(res);
  expect(init.result.serverInfo.name).toBe("parley");
  const ack = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, headers, sid!);
  expect(ack.status).toBe(202);
  return sid!;
}

let rpcId = 100;
/** tools/call over plain fetch; returns the JSON-RPC response. */
async function rawCall(sid: string, name: string, args: Record<string, unknown>, headers: Record<string, string> = {}) {
  const id = ++rpcId;
  const res = await post({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } }, headers, sid);
  expect(res.status).toBe(200);
  const msgs = await sseMessages(res);
  return msgs.find((m) => m.id === id);
}

async function fullLog(who: TestClient, channelId: string) {
  const res = await who.call("sync_messages", { channel_id: channelId, cursor: 0, timeout_ms: 0, limit: 1000 });
  expect(res.messages.length).toBeLessThan(1000);
  return res;
}

/** Everything a user can read about the fixture; must be identical before and after every case. */
async function snapshot() {
  return {
    mainLogAlice: await fullLog(alice, fx.main),
    mainLogBob: await fullLog(bob, fx.main),
    mainInfoAlice: await alice.call("get_channel_info", { channel_id: fx.main }),
    mainInfoBob: await bob.call("get_channel_info", { channel_id: fx.main }),
    closedLog: await fullLog(alice, fx.closed),
    closedInfo: await alice.call("get_channel_info", { channel_id: fx.closed }),
    evesOwnLog: await fullLog(eve, fx.evesOwn),
    evesOwnInfo: await eve.call("get_channel_info", { channel_id: fx.evesOwn }),
    lists: {
      alice: await alice.call("list_channels"),
      bob: await bob.call("list_channels"),
      eve: await eve.call("list_channels"),
    },
  };
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;
/** Taken once the fixture is built; every case must leave exactly this behind. */
let baseline: Snapshot;

/**
 * Runs one bad input between two snapshots: the server must still answer (SDK session and raw
 * session) and what a user can read must be exactly what it was before the case. (Comparing with
 * the case's own "before" keeps one failure from cascading; the last describe block compares the
 * end state with the fixture's baseline.)
 */
async function expectHarmless(badInput: () => Promise<void>) {
  const before = await snapshot();
  await badInput();
  expect(server.proc.exitCode).toBeNull();
  const health = await alice.call("health_check");
  expect(health.status).toBe("ok");
  const raw = await rawCall(rawSid, "health_check", {});
  expect(raw.result.structuredContent.status).toBe("ok");
  expect(await snapshot()).toEqual(before);
}

beforeAll(async () => {
  server = await startServer();
  rawAuth = { authorization: `Bearer ${(await signIn(server.url)).access_token}` };
  alice = await connect(server.mcpUrl, "alice");
  bob = await connect(server.mcpUrl, "bob");
  eve = await connect(server.mcpUrl, "eve");

  const main = await alice.call("create_channel", { name: "main", slots: ["invite:alice", "invite:bob", "invite:carol", "bot:ref"] });
  fx.main = main.channel_id;
  [, fx.bobInvite, fx.carolInvite] = main.invites;
  await alice.call("join_channel", { invite_code: main.invites[0] });
  const bobFirst = await bob.call("join_channel", { invite_code: fx.bobInvite });
  fx.staleRejoin = bobFirst.rejoin_token;
  // Redeeming one's own rejoin token rotates it; two rotations later the first is dead even for its
  // holder (the token redeemed last stays good for its redeemer, to retry a lost answer).
  const middle = (await bob.call("join_channel", { invite_code: fx.staleRejoin })).rejoin_token;
  fx.bobRejoin = (await bob.call("join_channel", { invite_code: middle })).rejoin_token;
  expect(new Set([fx.staleRejoin, middle, fx.bobRejoin]).size).toBe(3);
  await alice.call("post_message", { channel_id: fx.main, body: "hello from alice" });
  await bob.call("post_message", { channel_id: fx.main, body: "hello from bob" });

  const closed = await alice.call("create_channel", { name: "closed", slots: ["invite:alice", "invite:late"] });
  fx.closed = closed.channel_id;
  fx.closedInvite = closed.invites[1];
  await alice.call("join_channel", { invite_code: closed.invites[0] });
  await alice.call("post_message", { channel_id: fx.closed, body: "last words" });
  await alice.call("update_channel", { channel_id: fx.closed, ops: [{ type: "close" }] });

  fx.evesOwn = (await eve.call("create_channel", { name: "eve's", slots: ["invite:eve"] })).channel_id;

  rawSid = await rawSession();
  baseline = await snapshot();
  // Sanity: the fixture is what the cases assume.
  expect(baseline.mainInfoAlice.view.slots.map((s: any) => s.filled)).toEqual([true, true, false, false]);
  expect(baseline.closedInfo.view.status).toBe("closed");
  expect(baseline.lists.eve.channels.map((c: any) => c.channel_id)).toEqual([fx.evesOwn]);
});

afterAll(async () => {
  for (const c of [alice, bob, eve]) await c?.[Symbol.asyncDispose]();
  await server?.[Symbol.asyncDispose]();
});

type Who = "alice" | "bob" | "eve";
interface ToolCase {
  name: string;
  who: Who;
  tool: string;
  args: () => Record<string, unknown>;
  code: string;
  /** What the message must name (the offending field, slot, limit…). */
  mentions?: RegExp;
  /** What the message must not show (internal names). */
  forbids?: RegExp;
}

const UNKNOWN_CHANNEL = "chn_AAAAAAAAAAAAAAAAAAAAAA";
/** Ids are looked up whatever their length, up to this many characters after the prefix (an unbounded id is still bad input). */
const ID_BOUND = 128;
/** Line 3 misses the ")" of ctx.post: QuickJS finds it wanting at line 4, column 3 of this source. */
const SYNTAX_ERROR_BOT = "export default {\n  onInit(ctx) {\n    ctx.post('bot', { text: 'hi' }\n  },\n};";
const longName = "n".repeat(101);
const tooManySlots = Array.from({ length: 33 }, (_, i) => `invite:p${i}`);
// A preset freezes its params on a shared worker: 100k small arrays held it (and every bot beside it) ~250 ms a load.
const bulkyParams = { junk: Array.from({ length: 5_000 }, () => [1]) };

const toolCases: ToolCase[] = [
  // create_channel: wrong types, missing/extra fields, empty and oversized values, bad slot specs.
  { name: "create_channel: name of the wrong type", who: "alice", tool: "create_channel", args: () => ({ name: 42, slots: ["invite:a"] }), code: "INVALID_REQUEST", mentions: /name/ },
  { name: "create_channel: slots missing", who: "alice", tool: "create_channel", args: () => ({ name: "x" }), code: "INVALID_REQUEST", mentions: /slots/ },
  { name: "create_channel: no arguments at all", who: "eve", tool: "create_channel", args: () => ({}), code: "INVALID_REQUEST", mentions: /name/ },
  { name: "create_channel: unknown extra field", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a"], owner: "bob" }), code: "INVALID_REQUEST", mentions: /owner/ },
  { name: "create_channel: empty name", who: "alice", tool: "create_channel", args: () => ({ name: "", slots: ["invite:a"] }), code: "INVALID_REQUEST", mentions: /name/ },
  { name: "create_channel: whitespace-only name", who: "alice", tool: "create_channel", args: () => ({ name: "   ", slots: ["invite:a"] }), code: "INVALID_REQUEST", mentions: /name/ },
  { name: "create_channel: name over 100 characters", who: "alice", tool: "create_channel", args: () => ({ name: longName, slots: ["invite:a"] }), code: "INVALID_REQUEST", mentions: /name/ },
  { name: "create_channel: 33 slots (limit 32)", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: tooManySlots }), code: "INVALID_REQUEST", mentions: /slots/ },
  { name: "create_channel: empty slot list", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: [] }), code: "INVALID_REQUEST", mentions: /slots/ },
  { name: "create_channel: slots as a string", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: "invite:a" }), code: "INVALID_REQUEST", mentions: /slots/ },
  { name: "create_channel: unknown slot kind", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "player:b"] }), code: "INVALID_REQUEST", mentions: /slots\.1/ },
  { name: "create_channel: slot with empty label", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:"] }), code: "INVALID_REQUEST", mentions: /slots\.0/ },
  { name: "create_channel: slot label over 40 characters", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: [`invite:${"l".repeat(41)}`] }), code: "INVALID_REQUEST", mentions: /slots\.0/ },
  { name: "create_channel: bot_params over 16 KiB of JSON", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a"], bot_preset: "EchoBot", bot_params: bulkyParams }), code: "INVALID_REQUEST", mentions: /bot_params.*16384 bytes/ },
  { name: "attach_bot: bot_params over 16 KiB of JSON", who: "alice", tool: "attach_bot", args: () => ({ channel_id: fx.main, bot_preset: "EchoBot", bot_params: bulkyParams }), code: "INVALID_REQUEST", mentions: /bot_params.*16384 bytes/ },
  { name: "create_channel: slot label with a colon", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a:b"] }), code: "INVALID_REQUEST", mentions: /slots\.0/ },

  // Bots in create_channel (issue 10, item 7): a bot that does not load or whose onInit fails creates
  // nothing; a bot needs a bot: seat; seat labels are unique.
  { name: "create_channel: bot_code with a syntax error names the bot and the line and column of its source", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "bot:ref"], bot_code: SYNTAX_ERROR_BOT }), code: "BOT_ERROR", mentions: /bot_code.*SyntaxError at line 4, column 3/, forbids: /manifest-check|bot\.js/ },
  { name: "create_channel: bot_code that throws at its top level names the line and column", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "bot:ref"], bot_code: "const n = 1;\nif (n) throw new Error('not today');\nexport default {};" }), code: "BOT_ERROR", mentions: /Error at line 2, column \d+: not today/, forbids: /manifest-check|bot\.js/ },
  { name: "create_channel: a bot whose onInit never ends: BOT_ERROR, no channel is created", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "bot:ref"], bot_code: "export default { onInit(ctx) { for (;;) {} } };" }), code: "BOT_ERROR", mentions: /onInit.*budget.*not created/ },
  { name: "create_channel: GuessBot with min > max: BOT_ERROR naming the params, no channel is created", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "bot:ref"], bot_preset: "GuessBot", bot_params: { min: 10, max: 1 } }), code: "BOT_ERROR", mentions: /GuessBot.*onInit.*min.*max.*not created/ },
  { name: "create_channel: bot_preset with no bot: seat", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a"], bot_preset: "EchoBot" }), code: "INVALID_REQUEST", mentions: /bot:LABEL/ },
  { name: "create_channel: bot_code with no bot: seat", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "invite:b"], bot_code: "export default {};" }), code: "INVALID_REQUEST", mentions: /bot:LABEL/ },
  { name: "create_channel: bot_params with no bot", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "bot:ref"], bot_params: { rounds: 3 } }), code: "INVALID_REQUEST", mentions: /bot_params/ },
  { name: "create_channel: two seats with one label", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:a", "invite:b", "invite:a"] }), code: "INVALID_REQUEST", mentions: /slots.*"a"/ },
  { name: "create_channel: an invite seat and a bot seat with one label", who: "alice", tool: "create_channel", args: () => ({ name: "x", slots: ["invite:ref", "bot:ref"] }), code: "INVALID_REQUEST", mentions: /slots.*"ref"/ },
  { name: "attach_bot: a channel with no bot: seat", who: "eve", tool: "attach_bot", args: () => ({ channel_id: fx.evesOwn, bot_preset: "EchoBot" }), code: "INVALID_REQUEST", mentions: /bot:LABEL/ },
  { name: "attach_bot: bot code with a syntax error names the line and column", who: "alice", tool: "attach_bot", args: () => ({ channel_id: fx.main, bot_code: SYNTAX_ERROR_BOT }), code: "BOT_ERROR", mentions: /SyntaxError at line 4, column 3/, forbids: /manifest-check|bot\.js/ },

  // join_channel: garbage, unknown, reused, rotated and closed-channel codes.
  { name: "join_channel: invite_code missing", who: "eve", tool: "join_channel", args: () => ({}), code: "INVALID_REQUEST", mentions: /invite_code/ },
  { name: "join_channel: invite_code null", who: "eve", tool: "join_channel", args: () => ({ invite_code: null }), code: "INVALID_REQUEST", mentions: /invite_code/ },
  { name: "join_channel: garbage that is not a code at all", who: "eve", tool: "join_channel", args: () => ({ invite_code: "let me in" }), code: "INVALID_REQUEST", mentions: /invite_code/ },
  { name: "join_channel: well-formed but unknown invite", who: "eve", tool: "join_channel", args: () => ({ invite_code: "inv_" + "Z".repeat(27) }), code: "INVITE_INVALID" },
  { name: "join_channel: well-formed but unknown rejoin token", who: "eve", tool: "join_channel", args: () => ({ invite_code: "rejoin_" + "Z".repeat(27) }), code: "INVITE_INVALID" },
  { name: "join_channel: an inv_ code of another length than ours is unknown, not malformed", who: "eve", tool: "join_channel", args: () => ({ invite_code: "inv_nope" }), code: "INVITE_INVALID" },
  { name: "join_channel: a rejoin_ token of another length than ours is unknown, not malformed", who: "eve", tool: "join_channel", args: () => ({ invite_code: "rejoin_x" }), code: "INVITE_INVALID" },
  { name: "join_channel: an inv_ code longer than any id", who: "eve", tool: "join_channel", args: () => ({ invite_code: "inv_" + "A".repeat(ID_BOUND + 1) }), code: "INVALID_REQUEST", mentions: /invite_code/ },
  { name: "join_channel: an inv_ code with characters no id has", who: "eve", tool: "join_channel", args: () => ({ invite_code: "inv_no pe" }), code: "INVALID_REQUEST", mentions: /invite_code/ },
  { name: "join_channel: invite already redeemed by someone else", who: "eve", tool: "join_channel", args: () => ({ invite_code: fx.bobInvite }), code: "SLOT_ALREADY_FILLED", mentions: /s1/ },
  { name: "join_channel: rejoin token already rotated", who: "eve", tool: "join_channel", args: () => ({ invite_code: fx.staleRejoin }), code: "INVITE_INVALID" },
  { name: "join_channel: rotated rejoin token, by its former holder", who: "bob", tool: "join_channel", args: () => ({ invite_code: fx.staleRejoin }), code: "INVITE_INVALID" },
  { name: "join_channel: invite to a closed channel", who: "eve", tool: "join_channel", args: () => ({ invite_code: fx.closedInvite }), code: "CHANNEL_CLOSED" },
  { name: "join_channel: second seat in a channel one already sits in", who: "alice", tool: "join_channel", args: () => ({ invite_code: fx.carolInvite }), code: "INVALID_REQUEST", mentions: /s0/ },
  { name: "join_channel: unknown extra field", who: "eve", tool: "join_channel", args: () => ({ invite_code: fx.carolInvite, slot_id: "s2" }), code: "INVALID_REQUEST", mentions: /slot_id/ },

  // post_message: types, sizes, forged kinds/senders, unknown/foreign/closed channels.
  { name: "post_message: body of the wrong type", who: "bob", tool: "post_message", args: () => ({ channel_id: fx.main, body: { text: "hi" } }), code: "INVALID_REQUEST", mentions: /body/ },
  { name: "post_message: body missing", who: "bob", tool: "post_message", args: () => ({ channel_id: fx.main }), code: "INVALID_REQUEST", mentions: /body/ },
  { name: "post_message: empty body", who: "bob", tool: "post_message", args: () => ({ channel_id: fx.main, body: "" }), code: "INVALID_REQUEST", mentions: /body/ },
  { name: "post_message: body one byte over the 64 KiB limit", who: "bob", tool: "post_message", args: () => ({ channel_id: fx.main, body: "x".repeat(MESSAGE_LIMIT + 1) }), code: "INVALID_REQUEST", mentions: new RegExp(`${MESSAGE_LIMIT + 1} bytes.*${MESSAGE_LIMIT}`) },
  { name: "post_message: limit counts UTF-8 bytes, not characters", who: "bob", tool: "post_message", args: () => ({ channel_id: fx.main, body: "é".repeat(MESSAGE_LIMIT / 2 + 1) }), code: "INVALID_REQUEST", mentions: new RegExp(`${MESSAGE_LIMIT + 2} bytes`) },
  { name: "post_message: forged kind \"system\"", who: "bob", tool: "post_message", args: () => ({ channel_id: fx.main, body: "I am the referee", kind: "system" }), code: "INVALID_REQUEST", mentions: /kind/ },
  { name: "post_message: forged sender (unknown extra field)", who: "bob", tool: "post_message", args: () => ({ channel_id: fx.main, body: "hi", sender: "s0" }), code: "INVALID_REQUEST", mentions: /sender/ },
  { name: "post_message: channel id that is not one", who: "bob", tool: "post_message", args: () => ({ channel_id: "main", body: "hi" }), code: "INVALID_REQUEST", mentions: /channel_id/ },
  { name: "post_message: unknown channel", who: "bob", tool: "post_message", args: () => ({ channel_id: UNKNOWN_CHANNEL, body: "hi" }), code: "CHANNEL_NOT_FOUND", mentions: new RegExp(UNKNOWN_CHANNEL) },
  { name: "post_message: a chn_ id of another length than ours is unknown, not malformed", who: "bob", tool: "post_message", args: () => ({ channel_id: "chn_nope", body: "hi" }), code: "CHANNEL_NOT_FOUND", mentions: /chn_nope/ },
  { name: "post_message: a chn_ id longer than any id", who: "bob", tool: "post_message", args: () => ({ channel_id: "chn_" + "A".repeat(ID_BOUND + 1), body: "hi" }), code: "INVALID_REQUEST", mentions: /channel_id/ },
  { name: "post_message: someone else's channel", who: "eve", tool: "post_message", args: () => ({ channel_id: fx.main, body: "let me in" }), code: "NOT_MEMBER" },
  { name: "post_message: admin who holds no seat", who: "eve", tool: "post_message", args: () => ({ channel_id: fx.evesOwn, body: "hi" }), code: "NOT_MEMBER" },
  { name: "post_message: closed channel", who: "alice", tool: "post_message", args: () => ({ channel_id: fx.closed, body: "anyone?" }), code: "CHANNEL_CLOSED" },

  // sync_messages: cursor and timeout bounds, foreign channel.
  { name: "sync_messages: negative cursor", who: "bob", tool: "sync_messages", args: () => ({ channel_id: fx.main, cursor: -1, timeout_ms: 0 }), code: "INVALID_REQUEST", mentions: /cursor/ },
  { name: "sync_messages: fractional cursor", who: "bob", tool: "sync_messages", args: () => ({ channel_id: fx.main, cursor: 1.5, timeout_ms: 0 }), code: "INVALID_REQUEST", mentions: /cursor/ },
  { name: "sync_messages: cursor as a string", who: "bob", tool: "sync_messages", args: () => ({ channel_id: fx.main, cursor: "3", timeout_ms: 0 }), code: "INVALID_REQUEST", mentions: /cursor/ },
  { name: "sync_messages: timeout_ms 25001 (max 25000)", who: "bob", tool: "sync_messages", args: () => ({ channel_id: fx.main, timeout_ms: 25_001 }), code: "INVALID_REQUEST", mentions: /timeout_ms/ },
  { name: "sync_messages: negative timeout_ms", who: "bob", tool: "sync_messages", args: () => ({ channel_id: fx.main, timeout_ms: -5 }), code: "INVALID_REQUEST", mentions: /timeout_ms/ },
  { name: "sync_messages: limit 0", who: "bob", tool: "sync_messages", args: () => ({ channel_id: fx.main, timeout_ms: 0, limit: 0 }), code: "INVALID_REQUEST", mentions: /limit/ },
  { name: "sync_messages: someone else's channel", who: "eve", tool: "sync_messages", args: () => ({ channel_id: fx.main, timeout_ms: 25_000 }), code: "NOT_MEMBER" },
  { name: "sync_messages: unknown channel", who: "bob", tool: "sync_messages", args: () => ({ channel_id: UNKNOWN_CHANNEL, timeout_ms: 25_000 }), code: "CHANNEL_NOT_FOUND" },

  // get_channel_info / list_channels.
  { name: "get_channel_info: someone else's channel", who: "eve", tool: "get_channel_info", args: () => ({ channel_id: fx.main }), code: "NOT_MEMBER" },
  { name: "get_channel_info: unknown channel", who: "alice", tool: "get_channel_info", args: () => ({ channel_id: UNKNOWN_CHANNEL }), code: "CHANNEL_NOT_FOUND" },
  { name: "get_channel_info: channel_id missing", who: "alice", tool: "get_channel_info", args: () => ({}), code: "INVALID_REQUEST", mentions: /channel_id/ },
  { name: "get_channel_info: a one-character chn_ id is unknown", who: "alice", tool: "get_channel_info", args: () => ({ channel_id: "chn_x" }), code: "CHANNEL_NOT_FOUND" },
  { name: "get_channel_info: a chn_ id at the bound is unknown", who: "alice", tool: "get_channel_info", args: () => ({ channel_id: "chn_" + "A".repeat(ID_BOUND) }), code: "CHANNEL_NOT_FOUND" },

  // Bot ids: a bot_ id matching no bot of the channel is BOT_NOT_FOUND whatever its length.
  { name: "get_bot_code: a bot_ id of another length than ours", who: "alice", tool: "get_bot_code", args: () => ({ channel_id: fx.main, bot_id: "bot_nope" }), code: "BOT_NOT_FOUND", mentions: /bot_nope/ },
  { name: "get_bot_code: a well-formed bot id of no bot of this channel", who: "bob", tool: "get_bot_code", args: () => ({ channel_id: fx.main, bot_id: "bot_" + "A".repeat(16) }), code: "BOT_NOT_FOUND" },
  { name: "dm_bot: a bot_ id of another length than ours", who: "bob", tool: "dm_bot", args: () => ({ channel_id: fx.main, bot_id: "bot_x", message: "hi" }), code: "BOT_NOT_FOUND", mentions: /bot_x/ },
  { name: "get_bot_code: a bot_ id longer than any id", who: "alice", tool: "get_bot_code", args: () => ({ channel_id: fx.main, bot_id: "bot_" + "A".repeat(ID_BOUND + 1) }), code: "INVALID_REQUEST", mentions: /bot_id/ },
  { name: "get_bot_code: a bot id that is not one at all", who: "alice", tool: "get_bot_code", args: () => ({ channel_id: fx.main, bot_id: "referee" }), code: "INVALID_REQUEST", mentions: /bot_id/ },
  { name: "list_channels: unknown argument (asking for another user's list)", who: "eve", tool: "list_channels", args: () => ({ principal: "alice" }), code: "INVALID_REQUEST", mentions: /principal/ },

  // update_channel: permissions, empty/unknown slots, unknown ops, all-or-nothing, closed channel.
  { name: "update_channel: by a member who is not admin", who: "bob", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "close" }] }), code: "NOT_ADMIN" },
  { name: "update_channel: by a non-member", who: "eve", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "kick", slot_id: "s0" }] }), code: "NOT_MEMBER" },
  { name: "update_channel: unknown channel", who: "alice", tool: "update_channel", args: () => ({ channel_id: UNKNOWN_CHANNEL, ops: [{ type: "close" }] }), code: "CHANNEL_NOT_FOUND" },
  { name: "update_channel: kick of an empty slot (after a valid rename: all or nothing)", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "rename", name: "hijacked" }, { type: "kick", slot_id: "s2" }] }), code: "INVALID_REQUEST", mentions: /s2.*empty/ },
  { name: "update_channel: kicking the same seat twice in one call", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "kick", slot_id: "s1" }, { type: "kick", slot_id: "s1" }] }), code: "INVALID_REQUEST", mentions: /s1/ },
  { name: "update_channel: op on an unknown slot (after a valid close: all or nothing)", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "close" }, { type: "set_admin", slot_id: "s9", admin: true }] }), code: "INVALID_REQUEST", mentions: /s9/ },
  { name: "update_channel: reissue_invite on a bot slot", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "reissue_invite", slot_id: "s3" }] }), code: "INVALID_REQUEST", mentions: /s3/ },
  { name: "update_channel: kick of a bot seat", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "kick", slot_id: "s3" }] }), code: "INVALID_REQUEST", mentions: /s3 is a bot seat/ },
  { name: "update_channel: malformed slot id", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "kick", slot_id: "bob" }] }), code: "INVALID_REQUEST", mentions: /slot_id/ },
  { name: "update_channel: unknown op type", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "delete" }] }), code: "INVALID_REQUEST", mentions: /ops\.0/ },
  { name: "update_channel: empty ops", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [] }), code: "INVALID_REQUEST", mentions: /ops/ },
  { name: "update_channel: set_admin with a string flag", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "set_admin", slot_id: "s1", admin: "yes" }] }), code: "INVALID_REQUEST", mentions: /admin/ },
  { name: "update_channel: rename to an empty name", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "rename", name: " " }] }), code: "INVALID_REQUEST", mentions: /name/ },
  { name: "update_channel: rename over 100 characters", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.main, ops: [{ type: "rename", name: longName }] }), code: "INVALID_REQUEST", mentions: /name/ },
  { name: "update_channel: closed channel", who: "alice", tool: "update_channel", args: () => ({ channel_id: fx.closed, ops: [{ type: "rename", name: "reopened?" }] }), code: "CHANNEL_CLOSED" },
];

const clients = (): Record<Who, TestClient> => ({ alice, bob, eve });

describe("bad tool arguments and forbidden operations: precise error, server keeps serving, nothing stored changes", () => {
  for (const c of toolCases) {
    test(c.name, () =>
      expectHarmless(async () => {
        const res = await clients()[c.who].raw(c.tool, c.args());
        const text = (res.content[0] as { text: string }).text;
        expect(res.isError).toBe(true);
        expect(text).toStartWith(`${c.code}: `);
        // Programs get the same code without parsing text.
        expect((res.structuredContent as any)?.error?.code).toBe(c.code);
        if (c.mentions) expect(text).toMatch(c.mentions);
        if (c.forbids) expect(text).not.toMatch(c.forbids);
      }),
    );
  }

  test("unknown tool name: JSON-RPC error -32602 (a protocol error, not a tool error)", () =>
    expectHarmless(async () => {
      const err = await alice.client.callTool({ name: "delete_channel", arguments: { channel_id: fx.main } }).then(
        () => null,
        (e: any) => e,
      );
      expect(err).not.toBeNull();
      expect(err.code).toBe(-32602);
      expect(String(err.message)).toContain("delete_channel");
    }));

  for (const [label, args] of [["a string", "hello"], ["an array", [1, 2]], ["a number", 7]] as const) {
    test(`tools/call whose arguments are ${label}: JSON-RPC error -32602, not an internal error`, () =>
      expectHarmless(async () => {
        const err = await alice.client.callTool({ name: "post_message", arguments: args as any }).then(
          () => null,
          (e: any) => e,
        );
        expect(err).not.toBeNull();
        expect(err.code).toBe(-32602);
        expect(String(err.message)).toContain("Invalid tools/call request");
      }));
  }
});

interface HttpCase {
  name: string;
  send: () => Promise<Response>;
  status: number;
  /** Expected JSON-RPC error code in the JSON body (omitted where the HTTP layer answers with no body). */
  rpcCode?: number;
  mentions?: RegExp;
}

const toolsList = { jsonrpc: "2.0", id: 7, method: "tools/list" };

const httpCases: HttpCase[] = [
  { name: "body that is not JSON, no session → 400 parse error", send: () => post("{not json"), status: 400, rpcCode: -32700 },
  { name: "empty body, no session → 400 parse error", send: () => post(""), status: 400, rpcCode: -32700 },
  { name: "body that is not JSON, in a session → 400 parse error", send: () => post("{not json", {}, rawSid), status: 400, rpcCode: -32700 },
  { name: "JSON that is not JSON-RPC, in a session → 400 parse error", send: () => post({ hello: "world" }, {}, rawSid), status: 400, rpcCode: -32700 },
  { name: "valid JSON-RPC that is not initialize, without a session → 400", send: () => post(toolsList), status: 400, rpcCode: -32000, mentions: /Mcp-Session-Id/ },
  { name: "tools/call without a session → 400", send: () => post({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "post_message", arguments: { channel_id: "chn_AAAAAAAAAAAAAAAAAAAAAA", body: "x" } } }), status: 400, rpcCode: -32000 },
  { name: "GET without a session → 400", send: () => fetch(server.mcpUrl, { headers: { ...rawAuth, accept: "text/event-stream" } }), status: 400, rpcCode: -32000 },
  { name: "Accept without text/event-stream on initialize → 406", send: () => post(initializeBody(), { accept: "application/json" }), status: 406, rpcCode: -32000, mentions: /Not Acceptable/ },
  { name: "body that is not JSON with Accept text/html, in a session → 406 (Accept is checked first)", send: () => post("{not json", { accept: "text/html" }, rawSid), status: 406, rpcCode: -32000, mentions: /Not Acceptable/ },
  { name: "body that is not JSON with Content-Type text/plain, in a session → 415", send: () => post("{not json", { "content-type": "text/plain" }, rawSid), status: 415, rpcCode: -32000 },
  { name: "chunked body (no Content-Length) that is not JSON, in a session → 400 parse error", send: () => post("{not json", {}, rawSid, true), status: 400, rpcCode: -32700 },
  {
    name: "chunked body (no Content-Length) over the cap, in a session → 413",
    send: () =>
      post({ jsonrpc: "2.0", id: 10, method: "tools/call", params: { name: "post_message", arguments: { channel_id: fx.main, body: "x".repeat(BODY_LIMIT) } } }, {}, rawSid, true),
    status: 413,
    rpcCode: -32000,
  },
  { name: "Accept text/html in a session → 406", send: () => post(toolsList, { accept: "text/html" }, rawSid), status: 406, rpcCode: -32000, mentions: /Not Acceptable/ },
  { name: "Content-Type text/plain on initialize → 415", send: () => post(initializeBody(), { "content-type": "text/plain" }), status: 415, rpcCode: -32000, mentions: /Unsupported Media Type/ },
  { name: "Content-Type form-urlencoded in a session → 415", send: () => post(toolsList, { "content-type": "application/x-www-form-urlencoded" }, rawSid), status: 415, rpcCode: -32000 },
  { name: "unknown session id → 404", send: () => post(toolsList, {}, "00000000-0000-4000-8000-000000000000"), status: 404, rpcCode: -32001 },
  { name: "DELETE of an unknown session → 404", send: () => fetch(server.mcpUrl, { method: "DELETE", headers: { ...rawAuth, "mcp-session-id": "no-such-session" } }), status: 404, rpcCode: -32001 },
  { name: "foreign Origin on initialize → 403", send: () => post(initializeBody(), { origin: "https://evil.example" }), status: 403, rpcCode: -32000, mentions: /^FORBIDDEN: .*evil\.example/ },
  { name: "foreign Origin in an existing session → 403", send: () => post(toolsList, { origin: "https://evil.example" }, rawSid), status: 403, rpcCode: -32000, mentions: /^FORBIDDEN:/ },
  { name: "Origin that only starts like localhost → 403", send: () => post(initializeBody(), { origin: "http://localhost.evil.example" }), status: 403, rpcCode: -32000, mentions: /^FORBIDDEN:/ },
  { name: "Origin \"null\" (sandboxed page) → 403", send: () => post(initializeBody(), { origin: "null" }), status: 403, rpcCode: -32000, mentions: /^FORBIDDEN:/ },
  { name: "Origin that is an allowed host over the wrong scheme → 403", send: () => post(initializeBody(), { origin: "http://claude.ai" }), status: 403, rpcCode: -32000, mentions: /^FORBIDDEN:/ },
  { name: "foreign Host (DNS rebinding) → 403", send: () => post(initializeBody(), { host: "evil.example" }), status: 403, rpcCode: -32000, mentions: /^FORBIDDEN: Host/ },
  { name: "foreign Host in an existing session → 403", send: () => post(toolsList, { host: `attacker.example:${server.port}` }, rawSid), status: 403, rpcCode: -32000, mentions: /^FORBIDDEN: Host/ },
  {
    name: "1 MiB post_message body (over the request cap) → 413",
    send: () =>
      post({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "post_message", arguments: { channel_id: fx.main, body: "x".repeat(BODY_LIMIT) } } }, {}, rawSid),
    status: 413,
    rpcCode: -32000,
    mentions: /^INVALID_REQUEST: Body of \d+ bytes exceeds 1048576/,
  },
  {
    name: "1 MiB body before any session → 413",
    send: () => post({ ...initializeBody(), padding: "x".repeat(BODY_LIMIT) }),
    status: 413,
    rpcCode: -32000,
    mentions: /^INVALID_REQUEST: Body of \d+ bytes exceeds/,
  },
];

describe("transport-level refusals: exact HTTP status and JSON-RPC error, server keeps serving, nothing stored changes", () => {
  for (const c of httpCases) {
    test(c.name, () =>
      expectHarmless(async () => {
        const res = await c.send();
        expect(res.status).toBe(c.status);
        // A refused request never opens a session.
        expect(res.headers.get("mcp-session-id")).toBeNull();
        const text = await res.text();
        if (c.rpcCode !== undefined) {
          expect(res.headers.get("content-type")).toStartWith("application/json");
          const body = JSON.parse(text);
          expect(body.jsonrpc).toBe("2.0");
          expect(body.id).toBeNull();
          expect(body.error.code).toBe(c.rpcCode);
          if (c.mentions) expect(body.error.message).toMatch(c.mentions);
        }
      }),
    );
  }
});

test("a request sent chunked (no Content-Length) is served like any other", () =>
  expectHarmless(async () => {
    const res = await post(toolsList, {}, rawSid, true);
    expect(res.status).toBe(200);
    const answer = (await sseMessages(res)).find((m) => m.id === toolsList.id);
    expect(answer.result.tools.map((t: { name: string }) => t.name)).toContain("post_message");
  }));

describe("Origins that real clients send are accepted", () => {
  const cases: [string, Record<string, string>][] = [
    ["no Origin (mcp-remote, the SDK, curl)", {}],
    ["https://claude.ai (Claude connector)", { origin: "https://claude.ai" }],
    ["https://chatgpt.com (ChatGPT connector)", { origin: "https://chatgpt.com" }],
    ["http://localhost:6274 (MCP Inspector)", { origin: "http://localhost:6274" }],
  ];
  for (const [name, headers] of cases) {
    test(name, () =>
      expectHarmless(async () => {
        const sid = await rawSession(headers);
        const res = await rawCall(sid, "list_channels", {}, headers);
        expect(res.result.isError).toBeUndefined();
        // A brand-new session sees none of the fixture's channels.
        expect(res.result.structuredContent).toEqual({ channels: [] });
        const bye = await fetch(server.mcpUrl, { method: "DELETE", headers: { ...rawAuth, ...headers, "mcp-session-id": sid, "mcp-protocol-version": LATEST_PROTOCOL_VERSION } });
        expect(bye.status).toBe(200);
      }),
    );
  }
});

describe("after every bad input", () => {
  test("everything a user can read is exactly the fixture's baseline", async () => {
    expect(await snapshot()).toEqual(baseline);
  });

  test("the secrets the cases aimed at still work: the unredeemed invite and the current rejoin token", async () => {
    await using carol = await connect(server.mcpUrl, "carol");
    const seated = await carol.call("join_channel", { invite_code: fx.carolInvite });
    expect(seated.slot_id).toBe("s2");
    await using bob2 = await connect(server.mcpUrl, "bob-again");
    const back = await bob2.call("join_channel", { invite_code: fx.bobRejoin });
    expect(back.slot_id).toBe("s1");
    const info = await bob2.call("get_channel_info", { channel_id: fx.main });
    expect(info.view.name).toBe("main");
    expect(info.view.status).toBe("open");
    expect(info.view.slots.map((s: any) => s.filled)).toEqual([true, true, true, false]);
    // The log holds the fixture's messages plus exactly these two joins; no bad input left a trace.
    const log = await fullLog(bob2, fx.main);
    expect(log.messages.slice(0, baseline.mainLogAlice.messages.length)).toEqual(baseline.mainLogAlice.messages);
    expect(log.messages.slice(baseline.mainLogAlice.messages.length).map((m: any) => [m.body.type, m.body.slot_id])).toEqual([
      ["slot:join", "s2"],
      ["slot:rejoin", "s1"],
    ]);
  });
});
