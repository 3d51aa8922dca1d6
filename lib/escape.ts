/**
 * Escaping text that came from a peer before it is shown anywhere: in an
 * error message that quotes the request, or in a log line. A raw ESC or
 * CR from a client would otherwise reach the terminal that shows the log
 * (log injection) or forge a line in it (docs/protocol.md#commands, docs/protocol.md#limits-and-bad-input).
 */

/**
 * Control characters: C0 controls, DEL, and the C1 controls (U+0080–U+009F),
 * which terminals also act on (U+009B is a CSI, as ESC [ is). The one
 * definition: what is found here is what file names, KV keys and HELLO
 * names may not contain (docs/protocol.md#commands), since those are shown back raw.
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Characters that are not controls but still forge or disguise a line when
 * shown raw: the line and paragraph separators (U+2028, U+2029; U+0085, the
 * other one, is a C1 control) end a line in many viewers and JSON tools, and
 * the bidirectional controls (U+202A–U+202E, U+2066–U+2069) reorder what
 * follows them (a right-to-left override before `gnp.exe` shows `exe.png`). They are
 * escaped wherever client text is shown (`\u2028`), but names may hold them:
 * a listing shows a name as stored.
 */
const FORGING_CHARACTER = /[\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Everything {@linkcode escapeControl} escapes (global: for `replace`): controls and forging characters. */
export const UNSAFE_TO_SHOW = new RegExp(
  `${CONTROL_CHARACTER.source}|${FORGING_CHARACTER.source}`,
  "g",
);

/** True if `text` has a control character (C0, DEL or C1): names and keys must not (docs/protocol.md#commands). */
export function hasControlCharacter(text: string): boolean {
  return CONTROL_CHARACTER.test(text);
}

/**
 * `text` with every control character written as `\xNN` and every forging
 * character as `\uNNNN`; everything else, the client's spelling, kept.
 */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE_TO_SHOW, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** `text` in double quotes, with `"` and `\` escaped by a backslash, the rest as {@linkcode escapeControl} does. */
export function quoteText(text: string): string {
  return `"${escapeControl(text.replace(/["\\]/g, "\\$&"))}"`;
}

/**
 * Client input as an error message quotes it: shortened to `max`
 * characters, control characters escaped (docs/protocol.md#commands), the spelling kept.
 */
export function truncate(text: string, max = 64): string {
  return escapeControl(text.length <= max ? text : `${text.slice(0, max)}…`);
}
