/**
 * Escaping text that came from a peer before it is shown anywhere: in an
 * error message that quotes the request, or in a log line. A raw ESC or
 * CR from a client would otherwise reach the terminal that shows the log
 * (log injection) or forge a line in it (docs/protocol.md#commands, docs/protocol.md#limits-and-bad-input).
 */

/**
 * Control characters: C0 controls, DEL, and the C1 controls (U+0080–U+009F),
 * which terminals also act on (U+009B is a CSI, as ESC [ is). The one
 * definition: what is escaped here is what file names, KV keys and HELLO
 * names may not contain (docs/protocol.md#commands), since those are shown back raw.
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL = new RegExp(CONTROL_CHARACTER.source, "g");

/** True if `text` has a control character (C0, DEL or C1): names and keys must not (docs/protocol.md#commands). */
export function hasControlCharacter(text: string): boolean {
  return CONTROL_CHARACTER.test(text);
}

/** `text` with every control character written as `\xNN`; everything else, the client's spelling, kept. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** `text` in double quotes, with `"` and `\` escaped by a backslash and control characters as `\xNN`. */
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
