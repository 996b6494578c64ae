/** Default of the max_answer_bytes config key. */
export const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * Rows asked of the store at a time. Its byte stop (maxBytes) already keeps huge rows from being
 * read; this bounds small ones, whose fixed fields (id, hash, ts) it does not count.
 */
const READ_CHUNK = 500;

/** Fixed fields of a message (ids, sender, ts, hash, keys) in an answer, generously. */
const MESSAGE_OVERHEAD = 1024;

/**
 * Characters a message adds to a tool answer: the result goes out twice, as structuredContent
 * and as the JSON text content, whose copy is escaped once more (a U+0001 is 6 characters in
 * JSON and 7 in the text copy: the ~13× of a message of control characters). That is
 * 2·|J| + 2 + (quotes and backslashes in J), J the message's JSON: what JSON.stringify(J) adds.
 */
export function answerBytes(message: object): number {
  const text = memberText(message);
  if (text === undefined) {
    const json = JSON.stringify(message);
    return json.length + JSON.stringify(json).length;
  }
  // A member's message is measured without serializing its text (64 KiB of U+0001 would be
  // ~850 KB of garbage and 1.4 ms to count; the scan below takes 0.2 ms and allocates nothing).
  const frame = JSON.stringify({ ...message, body: { text: "" } });
  const t = quotedCost(text);
  return 2 * (frame.length + t.length) + 2 + quotesAndBackslashes(frame) + t.escapes;
}

/** The text of a member's message (its body is exactly `{text}`), else undefined. */
function memberText(message: object): string | undefined {
  const m = message as { kind?: unknown; body?: { text?: unknown } };
  if (m.kind !== "user" || typeof m.body?.text !== "string") return undefined;
  for (const key in m.body) if (key !== "text") return undefined;
  return m.body.text;
}

/**
 * Characters JSON.stringify adds for `s` inside a string (ECMA-262 QuoteJSONString), and how many
 * of them are quotes or backslashes (each escaped again in the text copy).
 */
function quotedCost(s: string): { length: number; escapes: number } {
  let length = 0;
  let escapes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      length += 2;
      escapes += 2;
    } else if (c < 0x20) {
      // \b \t \n \f \r, else \u00XX
      length += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
      escapes += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        length += 2;
        i++;
      } else {
        length += 6; // a lone surrogate: \uDXXX
        escapes += 1;
      }
    } else {
      length += 1;
    }
  }
  return { length, escapes };
}

function quotesAndBackslashes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) n++;
  }
  return n;
}

/**
 * An upper bound of answerBytes without serializing: a member's message is `{text}` and each
 * character of text takes at most 6 + 7 characters. Anything else is measured.
 */
function answerBytesBound(message: object): number {
  const text = memberText(message);
  return text === undefined ? answerBytes(message) : MESSAGE_OVERHEAD + 13 * text.length;
}

/**
 * One page from `cursor` on: at most `limit` items and at most `budget` characters of answer
 * (answerBytes), always at least one item so the cursor moves. Cheap bounds decide while the
 * page is small (sync_messages' usual page costs no serialization); once they pass the budget,
 * the items are measured exactly. `more`: there are items after the page.
 *
 * `read(after, limit, maxBytes)` is the store's readMessages, which stops reading after the row
 * whose stored JSON passes maxBytes and says so (`cut`). A message costs an answer at least twice
 * its JSON, so it is asked to stop at half the room left: rows that cannot fit are never read or
 * parsed (a page of 64 KiB messages of U+0001 reads two rows, not a hundred).
 */
export async function readPage<T extends { id: number }>(
  read: (after: number, limit: number, maxBytes: number) => Promise<{ items: T[]; cut: boolean }>,
  cursor: number,
  limit: number,
  budget: number,
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let used = 0;
  let exact = false;
  for (let after = cursor; ; ) {
    const want = Math.min(limit - items.length, READ_CHUNK);
    const maxBytes = Math.floor(Math.max(0, budget - used) / 2);
    // One row more than wanted tells whether the page ends the channel.
    const { items: rows, cut } = await read(after, want + 1, maxBytes);
    for (let i = 0; i < Math.min(rows.length, want); i++) {
      const item = rows[i]!;
      let cost = exact ? answerBytes(item) : answerBytesBound(item);
      if (!exact && used + cost > budget) {
        exact = true;
        used = 0;
        for (const taken of items) used += answerBytes(taken);
        cost = answerBytes(item);
      }
      if (used + cost > budget && items.length > 0) return { items, more: true };
      used += cost;
      items.push(item);
    }
    if (rows.length > want && items.length >= limit) return { items, more: true };
    // Fewer rows than asked for is the channel's end, unless the store stopped at maxBytes. (Not
    // to be guessed from the rows' size: a transcript shows another seat's message as a stub.)
    if (rows.length <= want && !cut) return { items, more: false };
    after = items.at(-1)!.id;
  }
}
