/**
 * Escaping text that came from a peer before it is shown anywhere: in an
 * error message that quotes the request, or in a log line. A raw ESC or
 * CR from a client would otherwise reach the terminal that shows the log
 * (log injection) or forge a line in it (SPEC §4, §5).
 */

/** C0 controls, DEL, and the C1 controls (U+0080–U+009F), which terminals also act on. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `text` with every control character written as `\xNN`; everything else, the client's spelling, kept. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** `text` in double quotes, with `"` and `\` escaped by a backslash and control characters as `\xNN`. */
export function quoteText(text: string): string {
  return `"${escapeControl(text.replace(/["\\]/g, "\\$&"))}"`;
}
