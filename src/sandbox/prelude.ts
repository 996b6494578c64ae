/**
 * Script evaluated in every fresh QuickJS context before the bot's module. It evaluates to a function
 * that the host calls once with its bridge, the bot id and the params; that function returns
 * `{ install, dispatch }`, which the host keeps as handles. Nothing of the host is left on the global
 * object, so a bot that rewrites globals cannot reach the bridge or replace the dispatcher.
 *
 * After the prelude the realm is locked down (as Hardened JavaScript's `lockdown()`): every intrinsic
 * reachable from globalThis, and globalThis itself, is frozen, except plain built-in methods (see
 * harden). Prototype tampering then throws (bot modules are strict code), and the prelude's own
 * later calls cannot be hijacked. What a bot keeps between hooks outside its state (module
 * variables, properties it adds to a built-in method) lasts until the next reload, which the server
 * records (src/transcript/bot-protocol.ts), so replays stay exact.
 *
 * Determinism (a replay must draw and read exactly what the live run did): Math.random draws from
 * the committed seed through the host;
 * Date without arguments and Date.now() give the triggering message's time; WeakRef and
 * FinalizationRegistry (GC timing) and SharedArrayBuffer are deleted.
 */
export const PRELUDE = String.raw`(function prelude(host, botId, paramsJson) {
  "use strict";
  const G = globalThis;
  const { freeze, defineProperty, getPrototypeOf, getOwnPropertyDescriptor } = Object;
  const { apply, construct, ownKeys } = Reflect;
  const parse = JSON.parse, stringify = JSON.stringify;
  const isArray = Array.isArray;
  let nowMs = 0;

  // --- Time: the triggering message's ts, never the wall clock.
  const RealDate = G.Date;
  function Date(...args) {
    if (new.target === undefined) return apply(RealDate.prototype.toString, new RealDate(nowMs), []);
    return construct(RealDate, args.length === 0 ? [nowMs] : args, new.target);
  }
  defineProperty(Date, "length", { value: 7 });
  Date.prototype = RealDate.prototype;
  Date.now = function now() { return nowMs; };
  Date.parse = RealDate.parse;
  Date.UTC = RealDate.UTC;
  defineProperty(RealDate.prototype, "constructor", { value: Date });
  defineProperty(G, "Date", { value: Date });

  // --- Randomness: the committed seed's stream for this hook (rng.ts).
  defineProperty(Math, "random", { value: function random() { return host("random"); } });

  // --- Observable GC and shared memory have no place in a replayable bot.
  delete G.WeakRef;
  delete G.FinalizationRegistry;
  delete G.SharedArrayBuffer;

  // --- Lockdown: freeze every object reachable from the intrinsics.
  // A frozen object is a visited one (no intrinsic starts out frozen with children reachable only
  // through it: test/unit/sandbox/hooks.test.ts walks the realm to check). Plain built-in methods,
  // functions with nothing of their own but "length" and "name" (both read-only already), stay
  // extensible: freezing them would only forbid adding properties to them, yet would give each of
  // the ~500 its own shape (~40 KiB of every bot's heap). They have nothing to walk but their
  // prototype, so meeting one again costs nothing.
  const isFrozen = Object.isFrozen;
  function plainMethod(o, keys) {
    if (typeof o !== "function") return false;
    for (const k of keys) if (k !== "length" && k !== "name") return false;
    return true;
  }
  function harden(root) {
    const todo = [root];
    while (todo.length > 0) {
      const o = todo.pop();
      if ((typeof o !== "object" && typeof o !== "function") || o === null) continue;
      if (isFrozen(o)) continue;
      const keys = ownKeys(o);
      if (!plainMethod(o, keys)) freeze(o);
      todo.push(getPrototypeOf(o));
      for (const key of keys) {
        const d = getOwnPropertyDescriptor(o, key);
        if ("value" in d) todo.push(d.value);
        else todo.push(d.get, d.set);
      }
    }
    return root;
  }
  // Intrinsics that no global names: iterator, generator and async-function prototypes.
  const hidden = [
    function* () {}, async function () {}, async function* () {}, async () => {},
    [][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ""[Symbol.iterator](),
    /x/[Symbol.matchAll]("x"), [].values().map((x) => x), Iterator.from({ next() { return { done: true }; } }),
  ];
  // Freezing a prototype breaks plain assignment to a property it defines ("override mistake"):
  // err.message = "…" or obj.toString = f would throw, and so would the host setting an Error's
  // message. As Hardened JavaScript does, such properties become accessors whose setter defines the
  // property on the object assigned to.
  function enableOverride(proto, key) {
    const d = getOwnPropertyDescriptor(proto, key);
    if (!d || !("value" in d)) return;
    const value = d.value;
    defineProperty(proto, key, {
      get() { return value; },
      set(v) {
        if (this === proto) throw new TypeError("Cannot assign to a frozen intrinsic");
        defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
      },
      enumerable: d.enumerable,
      configurable: false,
    });
  }
  for (const key of ["constructor", "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable"]) {
    enableOverride(Object.prototype, key);
  }
  for (const E of [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError, AggregateError, InternalError]) {
    for (const key of ["name", "message", "constructor", "toString"]) enableOverride(E.prototype, key);
  }
  enableOverride(Function.prototype, "toString");
  for (const o of hidden) harden(o);
  harden(G);

  // --- The ctx bridge (host-api.ts validates every argument again: this side is advisory).
  function bodyJson(body) {
    const value = typeof body === "string" ? { text: body } : body;
    if (typeof value !== "object" || value === null || isArray(value)) throw new TypeError("A post body is an object or a string");
    const json = stringify(value);
    if (typeof json !== "string") throw new TypeError("A post body must be JSON");
    return json;
  }
  function kindOf(kind) {
    if (typeof kind !== "string") throw new TypeError('A post kind is a string ("bot" or "control")');
    return kind;
  }
  const params = harden(parse(paramsJson));
  function fetch(url) {
    if (typeof url !== "string") throw new TypeError("ctx.fetch takes a URL string");
    const record = parse(host("fetch", url));
    if (record.error !== undefined) throw new Error("ctx.fetch " + url + ": " + record.error);
    return freeze({ status: record.status, body: record.body });
  }
  function makeCtx(slots) {
    return freeze({
      botId,
      params,
      slots,
      post(kind, body) { host("post", "", kindOf(kind), bodyJson(body)); },
      postTo(slotId, kind, body) {
        if (typeof slotId !== "string") throw new TypeError("postTo takes a slot id string");
        host("post", slotId, kindOf(kind), bodyJson(body));
      },
      getState() { return parse(host("getState")); },
      setState(value) {
        const json = stringify(value === undefined ? null : value);
        if (typeof json !== "string") throw new TypeError("setState takes a JSON value");
        host("setState", json);
      },
      random() { return host("random"); },
      randomInt(lo, hi) { return host("randomInt", lo, hi); },
      now() { return nowMs; },
      sha256(text) {
        if (typeof text !== "string") throw new TypeError("sha256 takes a string");
        return host("sha256", text);
      },
      fetch,
    });
  }

  let bot = null;
  return freeze({
    install(ns) {
      const value = ns.default;
      if ((typeof value !== "object" && typeof value !== "function") || value === null) {
        throw new TypeError("A bot module must export default { onInit, onJoin, onMessage, onPrivateMessage }");
      }
      bot = value;
      const manifest = ns.manifest;
      return manifest === undefined ? null : stringify(manifest);
    },
    dispatch(hook, argsJson, slotsJson, ms) {
      nowMs = ms;
      const fn = bot[hook];
      if (fn === undefined) return undefined;
      if (typeof fn !== "function") throw new TypeError("Bot hook " + hook + " is not a function");
      return apply(fn, bot, [makeCtx(harden(parse(slotsJson))), ...parse(argsJson)]);
    },
  });
})`;
