/**
 * The host side of `ctx` (the bot API, bots/README.md): the one function the prelude can call. Everything crossing
 * it is a string or a number, and every argument is checked here again, because the sandbox side is
 * bot-reachable. Misuse (a bad kind, an unknown slot) throws a TypeError the bot may catch; breaking
 * a limit (too many posts, a body or state too large, the budget) is also recorded on the meter, so
 * the hook ends in BOT_ERROR whatever the bot catches.
 */
import type { QuickJSContext, QuickJSHandle } from "quickjs-emscripten-core";
import { sha256Hex } from "../lib/hash.ts";
import type { BotOutput, FetchRecord } from "../transcript/index.ts";
import type { HookMeter, SandboxLimits } from "./limits.ts";
import type { Rng } from "./rng.ts";

/** Kinds a bot may post (of the message kinds user, bot, system, control: `user` and `system` are not a bot's to speak). */
export const BOT_POST_KINDS: readonly string[] = ["bot", "control"];

/** What one hook may read and write through ctx. */
export interface HookSession {
  meter: HookMeter;
  rng: Rng;
  outputs: BotOutput[];
  /** The bot's state as JSON text: given with the hook, replaced by setState, never parsed here. */
  state: string;
  slotIds: ReadonlySet<string>;
  /** ctx.fetch responses given with the hook (recorded in the transcript), by URL. */
  fetches: ReadonlyMap<string, FetchRecord>;
}

/**
 * Deterministic charges, in QuickJS operations (TICKS_PER_POLL = one poll). A host call costs ~5 µs and
 * an empty-loop poll ~0.05–0.08 ms (measured), so one call ≈ 500 operations; without this a bot
 * calling ctx.random() in a loop ran 10k calls per poll. Bytes: SHA-256 at ~3 ms/MiB ≈ 1 op per 4 bytes;
 * copying JSON in or out ≈ 1 op per 16 bytes.
 */
const CALL_TICKS = 500;
const copyTicks = (chars: number) => Math.ceil(chars / 16);
const hashTicks = (chars: number) => Math.ceil(chars / 4);

export function newHostFunction(vm: QuickJSContext, limits: SandboxLimits, session: () => HookSession): QuickJSHandle {
  const str = (h: QuickJSHandle | undefined, what: string): string => {
    if (!h || vm.typeof(h) !== "string") throw new TypeError(`${what} must be a string`);
    return vm.getString(h);
  };
  const num = (h: QuickJSHandle | undefined): number => (h && vm.typeof(h) === "number" ? vm.getNumber(h) : Number.NaN);

  return vm.newFunction("host", (opH, ...args) => {
    const s = session();
    const op = vm.getString(opH);
    s.meter.charge(CALL_TICKS);
    switch (op) {
      case "random":
        return vm.newNumber(s.rng.random());
      case "randomInt":
        return vm.newNumber(s.rng.randomInt(num(args[0]), num(args[1])));
      case "getState":
        s.meter.charge(copyTicks(s.state.length));
        return vm.newString(s.state);
      case "setState": {
        const json = str(args[0], "state");
        s.meter.charge(copyTicks(json.length));
        const bytes = Buffer.byteLength(json);
        if (bytes > limits.maxStateBytes) {
          s.meter.fail("state", `setState got ${bytes} bytes of JSON, over the ${limits.maxStateBytes}-byte cap`);
          throw new RangeError("BOT_ERROR: state too large");
        }
        JSON.parse(json); // the prelude's frozen JSON.stringify made it; parse proves it
        s.state = json;
        return vm.undefined;
      }
      case "post": {
        const to = str(args[0], "slot id");
        const kind = str(args[1], "kind");
        const json = str(args[2], "body");
        s.meter.charge(copyTicks(json.length));
        if (s.outputs.length >= limits.maxOutputs) {
          s.meter.fail("outputs", `posted more than ${limits.maxOutputs} messages in one hook`);
          throw new RangeError("BOT_ERROR: too many posts");
        }
        const bytes = Buffer.byteLength(json);
        if (bytes > limits.maxBodyBytes) {
          s.meter.fail("outputs", `posted a ${bytes}-byte body, over the ${limits.maxBodyBytes}-byte cap`);
          throw new RangeError("BOT_ERROR: body too large");
        }
        if (!BOT_POST_KINDS.includes(kind)) throw new TypeError(`A bot posts kind "bot" or "control", not ${JSON.stringify(kind.slice(0, 40))}`);
        if (to !== "" && !s.slotIds.has(to)) throw new TypeError(`postTo: no slot ${JSON.stringify(to.slice(0, 40))} in this channel`);
        const body: unknown = JSON.parse(json);
        if (typeof body !== "object" || body === null || Array.isArray(body)) throw new TypeError("A post body is an object");
        s.outputs.push({ kind: kind as BotOutput["kind"], body: body as Record<string, unknown>, to_slot: to === "" ? null : to });
        return vm.undefined;
      }
      case "fetch": {
        // The sandbox never touches the network. A hook reads only responses it was given; for any
        // other URL it ends with reason "fetch", and the host (which applies the operator's allow-list
        // and records the response) runs it again with that response. A replay gives the recorded ones.
        const url = str(args[0], "url");
        const record = s.fetches.get(url);
        if (record === undefined) {
          s.meter.fail("fetch", url);
          throw new Error("BOT_ERROR: fetch pending");
        }
        // The bot reads {status, body} or {error}, in this key order whatever the record's (the charge counts its length).
        const json = JSON.stringify("error" in record ? { error: record.error } : { status: record.status, body: record.body });
        s.meter.charge(copyTicks(json.length));
        return vm.newString(json);
      }
      case "sha256": {
        const text = str(args[0], "sha256 input");
        s.meter.charge(hashTicks(text.length));
        return vm.newString(sha256Hex(text));
      }
      default:
        throw new TypeError(`Unknown host operation ${JSON.stringify(op.slice(0, 40))}`);
    }
  });
}
