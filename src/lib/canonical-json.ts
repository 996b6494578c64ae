/**
 * RFC 8785 (JCS) canonical JSON for the JSON values Parley stores (no undefined, no NaN).
 * Object keys are sorted by UTF-16 code units (RFC 8785 §3.2.3), which is what
 * Array.prototype.sort does on strings; numbers and strings serialise as ECMAScript
 * JSON.stringify does, which RFC 8785 §3.2.2 adopts.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("Non-finite number in canonical JSON");
    const s = JSON.stringify(value);
    if (s === undefined) throw new TypeError(`Cannot canonicalise ${typeof value}`);
    return s;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
}
