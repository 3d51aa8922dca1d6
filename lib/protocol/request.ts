/**
 * The request side of the wire format (docs/protocol.md#commands "Requests"): decoding one
 * line's bytes, the tokenizer with its quotes and escapes, and `Request`,
 * which parses the command word at once and the arguments on demand.
 */
import { escapeControl } from "../escape.ts";
import { ProtocolError } from "./errors.ts";

const SPACE = 32;
const TAB = 9;
const LOWER_A = 97;
const LOWER_Z = 122;
const QUOTE = 34;
const BACKSLASH = 92;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Lines up to this length that are plain ASCII are decoded in JS, without a call into the runtime. */
const ASCII_FAST_PATH_BYTES = 128;
/**
 * ASCII lines up to this length are built a character at a time: half the
 * cost of `String.fromCharCode.apply` for a PING (19 against 38 ns). Up to
 * here V8 keeps such a string flat (a longer one would be a chain of
 * pieces, and each read of a character would have to join them first).
 */
const CONCAT_BYTES = 12;

/** Decodes one line's bytes; NUL or invalid UTF-8 is a (non-fatal) `bad-request`. */
export function decodeLine(bytes: Uint8Array): string {
  if (bytes.length <= ASCII_FAST_PATH_BYTES) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === 0) throw new ProtocolError("bad-request", "line contains a NUL byte");
      if (b > 0x7f) {
        ascii = false;
        break;
      }
    }
    // Short commands (PING, CALC, KV GET …) are the common case on the hot path.
    if (ascii && bytes.length <= CONCAT_BYTES) {
      let text = "";
      for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
      return text;
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  if (bytes.includes(0)) throw new ProtocolError("bad-request", "line contains a NUL byte");
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ProtocolError("bad-request", "line is not valid UTF-8");
  }
}

/**
 * The keyword `word` spells, upper-cased, or "" if it spells none. Command
 * names, subcommands and CALC operators are case-insensitive in ASCII only
 * (docs/protocol.md#commands): Unicode case mapping turns other letters into ASCII ones
 * (`fıle` with a dotless ı and `ﬁle` with the ligature upper-case to FILE,
 * `ſet` with a long s to SET, the Kelvin sign lower-cases to k), so a line
 * would be a FILE PUT to one reader and not to another (an ASCII one such
 * as {@linkcode commandWordOf}), and its payload would run as requests.
 * A word with any non-ASCII character is therefore no keyword at all.
 * Runs for every request: a char-code loop over a short word, and the
 * runtime's upper-casing, which for ASCII text is exactly ASCII folding,
 * only when there is a lower-case letter to fold (a word already in upper
 * case, as clients mostly send them, is its own keyword; the call cost
 * about 30 ns).
 */
export function keyword(word: string): string {
  let lower = false;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if (c > 0x7f) return "";
    if (c >= LOWER_A && c <= LOWER_Z) lower = true;
  }
  return lower ? word.toUpperCase() : word;
}

const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The command word of a line that could not be decoded or tokenized, as
 * {@linkcode keyword} reads it: the bytes after any separators and an
 * opening quote, up to a separator, a quote or the end of the line. Used
 * only to tell whether a bad line announced a payload, so it must agree
 * with what `Request` makes of the same word when the line is good; a bad
 * byte in the word makes it no keyword, as a non-ASCII letter does.
 */
export function commandWordOf(bytes: Uint8Array): string {
  let start = 0;
  while (start < bytes.length && isSeparator(bytes[start]!)) start++;
  if (bytes[start] === QUOTE) start++;
  let end = start;
  while (end < bytes.length && !isSeparator(bytes[end]!) && bytes[end] !== QUOTE) end++;
  return keyword(lenientUtf8.decode(bytes.subarray(start, end)));
}

/** A decimal integer of any length with an optional sign (docs/protocol.md#commands "Numbers"). */
export const INTEGER_WORD = /^[+-]?\d+$/;

/** True for a line of nothing but spaces and tabs: it gets no reply (docs/protocol.md#commands). */
export function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== SPACE && c !== TAB) return false;
  }
  return true;
}

function isSeparator(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** One word of a request line and the index just past it. */
export interface Word {
  text: string;
  end: number;
  /** The word was written in double quotes (so it is never a keyword). */
  quoted: boolean;
}

/**
 * Scans the word starting at or after `pos` (skipping separators), or returns
 * null at end of line. A word that starts with `"` runs to the matching
 * quote, with `\"` and `\\` as its only escapes, and must be followed by a
 * separator or the end of the line.
 */
export function scanWord(line: string, pos: number): Word | null {
  let i = pos;
  while (i < line.length && isSeparator(line.charCodeAt(i))) i++;
  if (i >= line.length) return null;
  if (line.charCodeAt(i) === QUOTE) return scanQuoted(line, i);
  const start = i;
  while (i < line.length && !isSeparator(line.charCodeAt(i))) i++;
  return { text: line.slice(start, i), end: i, quoted: false };
}

/**
 * The quoted word that starts at `quote`. Apart from {@linkcode scanWord}
 * so that the plain word, every request's command, stays small enough for
 * V8 to inline into its callers (the whole function was over the limit).
 */
function scanQuoted(line: string, quote: number): Word {
  let i = quote;
  const column = i + 1;
  let text = "";
  let from = ++i;
  for (;;) {
    if (i >= line.length) {
      throw new ProtocolError(
        "bad-request",
        `unbalanced quote: the word at column ${column} never closes`,
      );
    }
    const c = line.charCodeAt(i);
    if (c === QUOTE) break;
    if (c === BACKSLASH) {
      const next = line.charCodeAt(i + 1);
      if (next !== QUOTE && next !== BACKSLASH) {
        // The character is the client's: escaped like any text an error quotes (docs/protocol.md#commands).
        const shown = i + 1 < line.length ? escapeControl(line[i + 1]!) : "end of line";
        throw new ProtocolError(
          "bad-request",
          `bad escape \\${shown} at column ${i + 1}: inside quotes only \\" and \\\\ are escapes`,
        );
      }
      text += line.slice(from, i);
      from = i + 1; // keep the escaped character itself
      i += 2;
      continue;
    }
    i++;
  }
  text += line.slice(from, i);
  i++; // past the closing quote
  if (i < line.length && !isSeparator(line.charCodeAt(i))) {
    throw new ProtocolError(
      "bad-request",
      `a closing quote must be followed by a space or the end of the line (column ${i + 1})`,
    );
  }
  return { text, end: i, quoted: true };
}

/** Splits a line into words from `from` on (quotes and escapes applied); error columns count from the line start. */
export function tokenize(line: string, from = 0): string[] {
  return scanWords(line, from).map((word) => word.text);
}

/** Every word from `from` on, with where it ends and whether it was quoted. */
export function scanWords(line: string, from = 0): Word[] {
  const words: Word[] = [];
  let pos = from;
  for (let word = scanWord(line, pos); word !== null; word = scanWord(line, pos)) {
    words.push(word);
    pos = word.end;
  }
  return words;
}

/**
 * Quotes `text` as one word when it needs it (empty, separators, a leading
 * quote, a backslash, or exactly "-"), so {@linkcode scanWord} reads it back
 * unchanged. Clients use it to build requests; WHO uses it for names.
 */
export function quoteWord(text: string): string {
  if (text !== "" && text !== "-" && !/[ \t"\\]/.test(text)) return text;
  return `"${text.replace(/["\\]/g, (c) => "\\" + c)}"`;
}

/**
 * One decoded, non-blank request line. The command word is parsed eagerly;
 * arguments only on demand, because some commands take the rest of the line
 * byte-exact and must not fail on quotes inside it.
 */
export class Request {
  /** The command name as a {@linkcode keyword}: upper-cased, or "" when the word is none. */
  readonly command: string;
  /** The command word as the client spelled it (for error messages that quote it). */
  readonly word: string;
  readonly line: string;
  readonly #afterCommand: number;

  constructor(line: string) {
    const word = scanWord(line, 0);
    if (word === null) throw new RangeError("a request needs a non-blank line");
    this.line = line;
    this.word = word.text;
    this.command = keyword(word.text);
    this.#afterCommand = word.end;
  }

  /** The words after the command name. Throws `bad-request` on bad quoting. */
  args(): string[] {
    return tokenize(this.line, this.#afterCommand);
  }

  /** The words after the command name with their quoting (for keywords, which quoting escapes). */
  argWords(): Word[] {
    return scanWords(this.line, this.#afterCommand);
  }

  /** At most the first `max` words after the command name; what follows is not parsed. */
  words(max: number): string[] {
    const words: string[] = [];
    let pos = this.#afterCommand;
    while (words.length < max) {
      const word = scanWord(this.line, pos);
      if (word === null) break;
      words.push(word.text);
      pos = word.end;
    }
    return words;
  }

  /**
   * The rest of the line after `skip` more words: exactly one separator after
   * the last word is dropped and the remainder returned byte-exact, or
   * undefined when the line ends right after that word.
   */
  rest(skip = 0): string | undefined {
    let pos = this.#afterCommand;
    for (let n = 0; n < skip; n++) {
      const word = scanWord(this.line, pos);
      if (word === null) return undefined;
      pos = word.end;
    }
    if (pos >= this.line.length) return undefined;
    return this.line.slice(pos + 1);
  }
}
