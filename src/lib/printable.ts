/** Every control character but the newline: C0, DEL, C1 (U+0080–U+009F; some terminals take U+009B as CSI) and the Unicode line separators. */
export const CONTROLS = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]/g;

/** One control character as its `\uXXXX` escape. */
export const escapeControl = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * Text for an operator's terminal with every control character but the newline escaped: what an
 * upstream or a caller wrote (an error, a tool name, a URI, a description) then shows as text
 * and cannot clear the screen, rewrite a line or set the window title.
 */
export function printable(text: string): string {
  return text.replace(CONTROLS, escapeControl);
}
