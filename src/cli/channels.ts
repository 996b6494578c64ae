import type { SigningKey } from "../auth/index.ts";
import { exportTranscript, Notifier, OPERATOR, updateChannel, type ChannelsContext } from "../channels/index.ts";
import type { Config } from "../config/index.ts";
import { AppError } from "../errors.ts";
import { askAdmin } from "../http/index.ts";
import { existingDataDir, OperatorQueries, tryLockDataDir, type DataDirHolder } from "../store/index.ts";
import { ed25519Signer } from "../transcript/index.ts";
import { openData, openSigned, parseDataFlags } from "./data.ts";

const USAGE = "usage: parley channels list | channels close CHANNEL_ID | channels export CHANNEL_ID > transcript.json";

/**
 * `parley channels list|close|export`: every channel of the data directory, as its operator.
 * `export` streams the signed transcript (as an admin without a seat reads it: private messages
 * and bot seeds once the channel is closed). `close` leaves the `channel:close` system message an
 * admin's close leaves; while a server runs it goes through that server (its admin socket), the
 * only process that may change channels then.
 */
export async function run(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== "list" && action !== "close" && action !== "export") throw new AppError("INVALID_REQUEST", USAGE);
  const { args, config } = parseDataFlags(rest, env, {}, action !== "list");
  if (action !== "list" && args.length !== 1) throw new AppError("INVALID_REQUEST", USAGE);
  if (action === "list") return list(config);
  if (action === "export") return exportOne(config, args[0]!);
  return close(config, args[0]!);
}

function list(config: Config): number {
  const data = openData(config);
  try {
    const channels = new OperatorQueries(data.store.db).channels();
    if (channels.length === 0) process.stdout.write("No channels.\n");
    for (const c of channels) {
      const last = c.last_message_id === null ? "no messages" : `last message #${c.last_message_id} at ${c.last_message_at}`;
      const bots = `${c.bots} bot${c.bots === 1 ? "" : "s"}`;
      process.stdout.write(`${c.id}  ${c.status.padEnd(6)}  ${JSON.stringify(c.name)}  ${c.filled}/${c.seats} seats  ${bots}  ${last}  created ${c.created_at} by ${c.creator}\n`);
    }
    return 0;
  } finally {
    data.close();
  }
}

async function exportOne(config: Config, channelId: string): Promise<number> {
  const data = await openSigned(config);
  try {
    const ctx = channelsContext(config, data.store, data.key);
    const chunks = await exportTranscript(ctx, OPERATOR, channelId);
    // Written as it is read (a transcript may be far larger than memory should hold).
    const out = Bun.stdout.writer();
    for await (const chunk of chunks) {
      out.write(chunk);
      await out.flush();
    }
    out.write("\n");
    await out.flush();
    return 0;
  } finally {
    data.close();
  }
}

async function close(config: Config, channelId: string): Promise<number> {
  const dir = existingDataDir(config.data);
  const attempt = tryLockDataDir(dir);
  if (attempt.holder) return closeThrough(attempt.holder, dir, channelId);
  // No server runs, and none can start while this holds the lock: write directly.
  try {
    const data = openData(config);
    try {
      await updateChannel(channelsContext(config, data.store), OPERATOR, { channel_id: channelId, ops: [{ type: "close" }] });
    } finally {
      data.close();
    }
  } finally {
    attempt.lock.release();
  }
  process.stdout.write(`Closed ${channelId}.\n`);
  return 0;
}

/** Asks the server holding the data directory to close the channel (http/admin.ts). */
async function closeThrough(holder: DataDirHolder, dir: string, channelId: string): Promise<number> {
  if (!holder.adminSocket) {
    throw new AppError("STORAGE_UNAVAILABLE", `data directory ${dir} is in use by another parley command (pid ${holder.pid}); try again when it has finished`);
  }
  const answer = await askAdmin(holder.adminSocket, { closeChannel: channelId }).catch((err: Error) => {
    throw new AppError("STORAGE_UNAVAILABLE", `cannot reach the server running on ${dir} (pid ${holder.pid}) at ${holder.adminSocket} (${err.message}); if it is still starting, try again`);
  });
  if (!answer.ok) {
    process.stderr.write(`parley: ${answer.message}\n`);
    return 1;
  }
  process.stdout.write(`Closed ${channelId} (through the running server, pid ${holder.pid}).\n`);
  return 0;
}

/** The channels module on the data directory, as the operator's command needs it: no bots, no waiters. */
function channelsContext(config: Config, store: ChannelsContext["store"], key?: SigningKey): ChannelsContext {
  return {
    store,
    notifier: new Notifier(),
    limits: { maxMessageBytes: config.max_message_bytes, maxAnswerBytes: config.max_answer_bytes },
    ...(key ? { signer: ed25519Signer(key.privateKey, key.kid, key.publicJwk as { kty: "OKP"; crv: "Ed25519"; x: string }), issuer: config.public_url } : {}),
  };
}
