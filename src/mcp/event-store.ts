import type { EventStore } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** Most events one session keeps for resumption. */
export const SESSION_EVENTS = 256;
/** Most bytes (estimated, see eventBytes) one session's kept events may hold. */
export const SESSION_EVENT_BYTES = 4 * 1024 * 1024;
/** Most bytes all sessions' kept events may hold together. */
export const ALL_EVENT_BYTES = 64 * 1024 * 1024;

interface StoredEvent {
  id: string;
  streamId: string;
  seq: number;
  message: JSONRPCMessage;
  bytes: number;
  store: SessionEventStore;
  /** Neighbours in the budget's list of every kept event, oldest first. */
  older: StoredEvent | null;
  newer: StoredEvent | null;
}

/**
 * The bytes all sessions' event stores hold, and the order their events arrived in: when the
 * total passes the cap, the oldest event of the whole server goes first, whichever session
 * holds it (it is always the oldest of its own session, so the store drops its first event).
 * A doubly linked list, so a session that ends unlinks its events at once.
 */
export class EventBudget {
  total = 0;
  private oldest: StoredEvent | null = null;
  private newest: StoredEvent | null = null;

  constructor(readonly maxBytes = ALL_EVENT_BYTES) {}

  add(e: StoredEvent): void {
    e.older = this.newest;
    if (this.newest) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
    this.total += e.bytes;
    while (this.total > this.maxBytes && this.oldest && this.oldest !== e) this.oldest.store.dropOldest();
  }

  remove(e: StoredEvent): void {
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = e.newer = null;
    this.total -= e.bytes;
  }
}

/**
 * What a message costs to keep, estimated without serializing it (this runs for every answer,
 * post_message's included): the text of tool results and resource contents, counted twice when
 * the result also carries it as structuredContent (ours always do), plus a fixed overhead.
 */
export function eventBytes(message: JSONRPCMessage): number {
  const result = (message as { result?: { content?: unknown; contents?: unknown; structuredContent?: unknown } }).result;
  let bytes = 256;
  if (!result) return bytes;
  for (const list of [result.content, result.contents]) {
    if (!Array.isArray(list)) continue;
    for (const part of list) {
      const text = (part as { text?: unknown; blob?: unknown }).text ?? (part as { blob?: unknown }).blob;
      if (typeof text === "string") bytes += text.length;
    }
  }
  return result.structuredContent === undefined ? bytes : 2 * bytes;
}

/**
 * Per-session SSE event log so a client can resume with `Last-Event-ID` (MCP 2025-11-25
 * transports, "Resumability"). Bounded by count and bytes per session and, through the shared
 * EventBudget, by bytes in all: the oldest events drop first, and an event larger than the
 * session's byte cap is not kept at all (it is still sent; a resume from before it cannot replay
 * it, and the client retries the request). A resume from a dropped id replays what is left.
 * Ids are `<streamId>|<seq>`, unique across the session's streams and naming the stream they
 * belong to, as the spec recommends.
 */
export class SessionEventStore implements EventStore {
  private readonly events: StoredEvent[] = [];
  private seq = 0;
  private bytes = 0;
  private closed = false;

  constructor(
    private readonly budget: EventBudget,
    private readonly maxEvents = SESSION_EVENTS,
    private readonly maxBytes = SESSION_EVENT_BYTES,
  ) {}

  /** Bytes this session's kept events hold (estimated). */
  get size(): number {
    return this.bytes;
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const seq = ++this.seq;
    const id = `${streamId}|${seq}`;
    const bytes = eventBytes(message);
    // After close, a call that was still running may answer: nothing of the session is kept.
    if (bytes > this.maxBytes || this.closed) return id;
    const e: StoredEvent = { id, streamId, seq, message, bytes, store: this, older: null, newer: null };
    this.events.push(e);
    this.bytes += bytes;
    this.budget.add(e);
    while (this.events.length > this.maxEvents || this.bytes > this.maxBytes) this.dropOldest();
    return id;
  }

  dropOldest(): void {
    const e = this.events.shift();
    if (!e) return;
    this.bytes -= e.bytes;
    this.budget.remove(e);
  }

  /** The session ended: forgets every event and keeps none after, so nothing of it stays reachable from the budget. */
  close(): void {
    this.closed = true;
    while (this.events.length > 0) this.dropOldest();
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const bar = eventId.lastIndexOf("|");
    return bar > 0 ? eventId.slice(0, bar) : undefined;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const streamId = (await this.getStreamIdForEventId(lastEventId)) ?? "";
    const after = Number(lastEventId.slice(lastEventId.lastIndexOf("|") + 1));
    for (const e of [...this.events]) {
      // Replay only this stream's events (spec: MUST NOT replay messages from other streams).
      if (e.streamId === streamId && e.seq > after) await send(e.id, e.message);
    }
    return streamId;
  }
}
