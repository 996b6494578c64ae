import type { EventStore } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/**
 * Per-session SSE event log so a client can resume with `Last-Event-ID` (MCP 2025-11-25
 * transports, "Resumability"). Bounded: the oldest events drop first; a resume from a dropped
 * id replays nothing. Ids are `<streamId>|<seq>`, unique across the session's streams and
 * naming the stream they belong to, as the spec recommends.
 */
export class SessionEventStore implements EventStore {
  private readonly events: { id: string; streamId: string; seq: number; message: JSONRPCMessage }[] = [];
  private seq = 0;

  constructor(private readonly capacity = 256) {}

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const seq = ++this.seq;
    const id = `${streamId}|${seq}`;
    this.events.push({ id, streamId, seq, message });
    if (this.events.length > this.capacity) this.events.shift();
    return id;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const bar = eventId.lastIndexOf("|");
    return bar > 0 ? eventId.slice(0, bar) : undefined;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const streamId = (await this.getStreamIdForEventId(lastEventId)) ?? "";
    const after = Number(lastEventId.slice(lastEventId.lastIndexOf("|") + 1));
    for (const e of this.events) {
      // Replay only this stream's events (spec: MUST NOT replay messages from other streams).
      if (e.streamId === streamId && e.seq > after) await send(e.id, e.message);
    }
    return streamId;
  }
}
