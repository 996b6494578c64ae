import { canonicalJson } from "../lib/canonical-json.ts";
import { sha256Hex } from "../lib/hash.ts";
import { log } from "../lib/log.ts";
import type { PinRecord, PinStore } from "../store/index.ts";
import { definitionDiff } from "./definition-diff.ts";

/**
 * A tool definition as an upstream lists it (the SDK's `Tool` fits). Only the fields that tell a
 * model what the tool is and does are pinned: its name, title, description, input and output
 * schemas and annotations. Others (`_meta`, `icons`) may change freely.
 */
export interface ToolDefinition {
  name: string;
  title?: unknown;
  description?: unknown;
  inputSchema?: unknown;
  outputSchema?: unknown;
  annotations?: unknown;
  [other: string]: unknown;
}

export const PINNED_FIELDS = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] as const;

/**
 * What the gateway does with a tool it was just listed: `ok` and `new` (pinned now) are listed and
 * callable; `held` is neither, until the operator approves the changed definition.
 */
export type PinCheck =
  | { state: "ok" }
  | { state: "new"; hash: string }
  | { state: "held"; pinnedHash: string; seenHash: string; diff: string }
  /** A tool never seen, past MAX_PINS_PER_UPSTREAM of its upstream: not pinned, held back like a changed one. */
  | { state: "refused"; reason: string };

/**
 * Tools pinned per upstream at most. A listing holds at most 1,000; an upstream renaming its tools
 * at every listing would otherwise add pins (each with its definition, on disk and in memory) for good.
 */
export const MAX_PINS_PER_UPSTREAM = 10_000;

/** A definition `approve` accepted, and how it differs from the one it replaces. */
export interface ApprovedPin {
  server: string;
  tool: string;
  previousHash: string;
  hash: string;
  diff: string;
}

/** A pin as `parley upstream pins` shows it; `held` when a changed definition waits for approval. */
export interface PinView {
  server: string;
  tool: string;
  hash: string;
  pinnedAt: string;
  held: { hash: string; at: string; diff: string } | null;
}

/**
 * Pinned tool definitions ("rug pull" protection): the SHA-256 of each upstream tool's definition
 * (RFC 8785 canonical JSON of PINNED_FIELDS) is recorded the first time the tool is seen; a later,
 * different definition is held back and logged with a diff until the operator approves it. Held
 * back means the gateway neither lists nor calls it: a model never reads the rewritten text.
 *
 * The pins are read once and kept in memory (the server holds the data directory's lock, so it is
 * their only writer: `parley upstream approve` goes through it while it runs).
 */
export class ToolPins {
  private readonly pins = new Map<string, PinRecord>();
  /** Pins per upstream. */
  private readonly counts = new Map<string, number>();
  private readonly listeners: ((approved: ApprovedPin[]) => void)[] = [];

  constructor(private readonly store: PinStore) {
    for (const r of store.all()) {
      this.pins.set(key(r.server, r.tool), r);
      this.counts.set(r.server, (this.counts.get(r.server) ?? 0) + 1);
    }
  }

  /** Checks (and on first sight pins) one tool of `server` as the upstream lists it now. */
  check(server: string, definition: ToolDefinition): PinCheck {
    const { text, hash } = digest(definition);
    const k = key(server, definition.name);
    let pin = this.pins.get(k);
    const now = new Date().toISOString();
    if (!pin) {
      const count = this.counts.get(server) ?? 0;
      if (count >= MAX_PINS_PER_UPSTREAM) {
        return { state: "refused", reason: `upstream "${server}" has ${count} pinned tools, the most (MAX_PINS_PER_UPSTREAM); a tool it never listed before is held back` };
      }
      const { record, inserted } = this.store.pinIfAbsent(server, definition.name, hash, text, now);
      this.pins.set(k, (pin = record));
      if (inserted) {
        this.counts.set(server, count + 1);
        return { state: "new", hash };
      }
    }
    if (pin.pinned_hash === hash) {
      if (pin.held_hash !== null) {
        // The upstream went back to the approved definition: nothing is waiting any more.
        this.store.clearHeld(server, definition.name);
        this.pins.set(k, { ...pin, held_hash: null, held_definition: null, held_at: null });
        log.info("upstream tool back to its pinned definition", { server, tool: definition.name, hash: short(hash) });
      }
      return { state: "ok" };
    }
    const diff = definitionDiff(JSON.parse(pin.pinned_definition), JSON.parse(text));
    if (pin.held_hash !== hash) {
      this.store.hold(server, definition.name, hash, text, now);
      this.pins.set(k, { ...pin, held_hash: hash, held_definition: text, held_at: now });
      // Once per changed definition (the held hash is stored): a restart or a re-list does not repeat it.
      log.warn("upstream tool definition changed: held back until approved", {
        server,
        tool: definition.name,
        pinned: short(pin.pinned_hash),
        seen: short(hash),
        approve: `parley upstream approve ${server}`,
        diff,
      });
    }
    return { state: "held", pinnedHash: pin.pinned_hash, seenHash: hash, diff };
  }

  /** How many tools of `server` were ever pinned: an upstream that lists none after some is degraded. */
  count(server: string): number {
    let n = 0;
    for (const pin of this.pins.values()) if (pin.server === server) n++;
    return n;
  }

  /** The tools of `server` whose changed definition is held back (a call to one is refused). */
  heldTools(server: string): string[] {
    const names: string[] = [];
    for (const pin of this.pins.values()) if (pin.server === server && pin.held_hash !== null) names.push(pin.tool);
    return names.sort();
  }

  /** Every pin (of `server`, if given), held ones with their diff. */
  list(server?: string): PinView[] {
    return [...this.pins.values()]
      .filter((p) => server === undefined || p.server === server)
      .sort((a, b) => (a.server === b.server ? cmp(a.tool, b.tool) : cmp(a.server, b.server)))
      .map((p) => ({
        server: p.server,
        tool: p.tool,
        hash: p.pinned_hash,
        pinnedAt: p.pinned_at,
        held: p.held_hash === null ? null : { hash: p.held_hash, at: p.held_at!, diff: definitionDiff(JSON.parse(p.pinned_definition), JSON.parse(p.held_definition!)) },
      }));
  }

  /**
   * Accepts every held definition of `server` (or only `tool`'s): each becomes the pinned one, and
   * the gateway, told through `onApprove`, lists and calls those tools again.
   */
  approve(server: string, tool: string | null = null): ApprovedPin[] {
    const approvedAt = new Date().toISOString();
    const approved = this.store.approve(server, tool, approvedAt).map((r) => {
      this.pins.set(key(r.server, r.tool), { ...r, pinned_hash: r.held_hash!, pinned_definition: r.held_definition!, pinned_at: approvedAt, held_hash: null, held_definition: null, held_at: null });
      return { server, tool: r.tool, previousHash: r.pinned_hash, hash: r.held_hash!, diff: definitionDiff(JSON.parse(r.pinned_definition), JSON.parse(r.held_definition!)) };
    });
    if (approved.length > 0) {
      log.info("upstream tool definitions approved", { server, tools: approved.map((a) => a.tool).join(","), count: approved.length });
      for (const listener of this.listeners) {
        try {
          listener(approved);
        } catch (err) {
          log.error("re-listing after an approval failed", { server, err });
        }
      }
    }
    return approved;
  }

  /** Calls `listener` after each approval that changed something (the gateway re-lists the upstream). */
  onApprove(listener: (approved: ApprovedPin[]) => void): void {
    this.listeners.push(listener);
  }
}

/**
 * The pinned form of a definition and its SHA-256. A JSON round trip first makes it plain JSON
 * whatever the upstream sent (no undefined members, no non-finite numbers), which RFC 8785 requires.
 */
export function digest(definition: ToolDefinition): { text: string; hash: string } {
  const picked: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS) if (definition[field] !== undefined) picked[field] = definition[field];
  const text = canonicalJson(JSON.parse(JSON.stringify(picked)));
  return { text, hash: sha256Hex(text) };
}

const key = (server: string, tool: string) => `${server}\u0000${tool}`;
const short = (hash: string) => hash.slice(0, 12);
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
