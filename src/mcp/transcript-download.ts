import * as channels from "../channels/index.ts";
import type { Caller, ChannelsContext } from "../channels/index.ts";
import { AppError, toAppError } from "../errors.ts";
import { sha256Hex } from "../lib/hash.ts";
import { randomToken } from "../lib/ids.ts";
import { addressGroup } from "../lib/address.ts";
import { Counts } from "../lib/counts.ts";

/** How long a download link works. A fresh one is handed out once half of this has passed. */
const LINK_TTL_MS = 15 * 60_000;
/** Links kept at most; beyond, the oldest is forgotten. */
const MAX_LINKS = 10_000;
/**
 * Downloads one caller may have open at once, and all callers together: each holds a connection
 * and a page of the store until its reader is done.
 */
const MAX_DOWNLOADS_PER_CALLER = 2;
/** Identities are cheap to make: an address (IPv6: its /64) gets a few more, and no more. */
const MAX_DOWNLOADS_PER_ADDRESS = 4;
const MAX_DOWNLOADS = 64;
/**
 * A download whose reader takes nothing for this long is ended. Bun's idle timeout does not end it
 * (measured: a response with writes pending is never idle), and a download itself may take as long
 * as it needs (a big transcript on a slow link).
 */
const STALL_MS = 30_000;

interface Link {
  principal: string;
  channelId: string;
  expires: number;
  key: string;
}

/**
 * The whole signed transcript as one download, for `parley verify URL` and for saving to a file:
 * get_transcript answers in pages, and an agent cannot easily hand its user a file. Each
 * get_transcript answer carries a `download_url` with a key (≥128 random bits, kept only as its
 * SHA-256, in memory: a restart forgets it, the agent asks again) that stands for the caller and
 * the channel for 15 minutes. The download re-checks the caller's membership and is streamed
 * from the store page by page (channels.exportTranscript), never built whole.
 */
export class TranscriptDownloads {
  /** By SHA-256 of the key. */
  private readonly links = new Map<string, Link>();
  /** The current link of each (principal, channel), by the same hash. */
  private readonly current = new Map<string, string>();
  /** Downloads in progress, per principal and per address. */
  private readonly perCaller = new Counts<string>();
  private readonly perAddress = new Counts<string>();
  private openTotal = 0;

  constructor(
    private readonly ctx: ChannelsContext,
    private readonly ttlMs = LINK_TTL_MS,
    private readonly stallMs = STALL_MS,
  ) {}

  /** The caller's download URL for the channel (call after the caller's access was checked). */
  link(caller: Caller, channelId: string): string {
    const who = `${caller.principal}\n${channelId}`;
    const now = Date.now();
    const hash = this.current.get(who);
    let link = hash ? this.links.get(hash) : undefined;
    if (!link || link.expires - now < this.ttlMs / 2) {
      link = { principal: caller.principal, channelId, expires: now + this.ttlMs, key: randomToken("dl") };
      const keyHash = sha256Hex(link.key);
      this.links.set(keyHash, link);
      this.current.set(who, keyHash);
      if (this.links.size > MAX_LINKS) this.forgetOldest(now);
    }
    return `${this.ctx.issuer}/transcripts/${channelId}?key=${link.key}`;
  }

  /** GET /transcripts/:channel_id?key=…: the transcript as application/json, streamed. `address`: the client's. */
  async handle(request: Request, address: string): Promise<Response> {
    let release: (() => void) | undefined;
    try {
      const url = new URL(request.url);
      // Channel ids need no decoding (chn_ and base64url); anything else matches no link.
      const channelId = url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
      const key = url.searchParams.get("key") ?? "";
      const link = key ? this.links.get(sha256Hex(key)) : undefined;
      if (!link || link.channelId !== channelId || link.expires <= Date.now()) {
        throw new AppError("UNAUTHENTICATED", "This download link is unknown or expired; call get_transcript for a fresh one");
      }
      release = this.admit(link.principal, addressGroup(address));
      const chunks = await channels.exportTranscript(this.ctx, { principal: link.principal }, channelId);
      const body = this.stream(chunks, release);
      return new Response(body, {
        headers: {
          "content-type": "application/json; charset=utf-8",
          "content-disposition": `attachment; filename="transcript-${channelId}.json"`,
          "cache-control": "no-store",
        },
      });
    } catch (err) {
      release?.();
      const e = toAppError(err, "transcript download");
      return Response.json({ error: e.code, message: e.toString() }, { status: e.status });
    }
  }

  /** Counts a download in (before any await, so concurrent ones cannot all pass); returns its release. */
  private admit(principal: string, address: string): () => void {
    if (this.perCaller.of(principal) >= MAX_DOWNLOADS_PER_CALLER || this.perAddress.of(address) >= MAX_DOWNLOADS_PER_ADDRESS || this.openTotal >= MAX_DOWNLOADS) {
      throw new AppError("RATE_LIMITED", `Too many transcript downloads in progress (at most ${MAX_DOWNLOADS_PER_CALLER} each); finish one first`);
    }
    this.perCaller.add(principal);
    this.perAddress.add(address);
    this.openTotal++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.perCaller.remove(principal);
      this.perAddress.remove(address);
      this.openTotal--;
    };
  }

  /**
   * Pulled one page at a time as the client reads: a slow reader holds one page, not the
   * transcript, and one that stops reading for STALL_MS is cut off. The store answers
   * synchronously, so without a turn of the event loop between pages the whole download would run
   * as one task and stall every other caller until done.
   */
  private stream(chunks: AsyncGenerator<string>, release: () => void): ReadableStream<Uint8Array> {
    const encoder = new TextEncoder();
    let stall: ReturnType<typeof setTimeout> | undefined;
    const end = () => {
      clearTimeout(stall);
      release();
      void chunks.return(undefined);
    };
    const stallMs = this.stallMs;
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          clearTimeout(stall);
          await new Promise((resolve) => setImmediate(resolve));
          const next = await chunks.next().catch((err) => {
            end();
            throw err;
          });
          if (next.done) {
            end();
            return controller.close();
          }
          controller.enqueue(encoder.encode(next.value));
          stall = setTimeout(() => {
            controller.error(new Error("transcript download stalled"));
            end();
          }, stallMs);
        },
        cancel: end,
      },
      { highWaterMark: 1 },
    );
  }

  private forgetOldest(now: number): void {
    // Insertion order is expiry order (every link lives ttlMs): drop the expired, then the oldest.
    for (const [hash, link] of this.links) {
      if (this.links.size <= MAX_LINKS && link.expires > now) return;
      this.links.delete(hash);
      const who = `${link.principal}\n${link.channelId}`;
      if (this.current.get(who) === hash) this.current.delete(who);
    }
  }
}
