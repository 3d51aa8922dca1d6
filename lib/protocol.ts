/**
 * The wire protocol (SPEC §4), on bytes only: request framing, the tokenizer,
 * the three reply shapes and their encoders, and the client-side reply
 * parser. No sockets here: everything is driven by pushing bytes in, so it is
 * tested without a network and shared by the server and the client.
 *
 * Written by hand rather than taken from a library because the protocol is
 * the product: its limits (bounded buffering, byte-exact "rest of line") are
 * part of the contract.
 */
import type { BufferPool } from "./buffer_pool.ts";

/** Error codes of SPEC §4; the word after `ERR`. */
export type ErrorCode =
  | "bad-request"
  | "unknown-command"
  | "bad-args"
  | "not-found"
  | "bad-name"
  | "too-large"
  | "div-by-zero"
  | "line-too-long"
  | "busy"
  | "timeout"
  | "shutdown"
  | "internal";

/** A request that must be answered with `ERR <code> <message>`; `fatal` closes the connection after. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fatal = false,
  ) {
    super(message);
  }
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const QUOTE = 34;
const BACKSLASH = 92;

/** Bytes a fresh connection buffer starts with; small so 10,000 idle clients stay cheap. */
export const INITIAL_BUFFER_BYTES = 4096;
/** A drained buffer larger than this is given back, so one long line does not pin memory forever. */
const SHRINK_ABOVE_BYTES = 64 * 1024;

/**
 * Incremental input buffer for one connection: bytes go in (ideally read
 * straight into {@linkcode FrameBuffer.spare}), complete lines and raw payload
 * bytes come out. A partial line longer than `maxLine` is refused as soon as
 * it is seen, so the buffer never holds more than `maxLine` + 2 bytes of one
 * line plus one read, however the bytes arrive.
 */
export class FrameBuffer {
  #buf: Uint8Array<ArrayBuffer>;
  #start = 0;
  #end = 0;
  /** Bytes in [#start, #scan) are known to hold no LF, so byte-at-a-time input is not rescanned. */
  #scan = 0;
  readonly maxLine: number;
  readonly #initialSize: number;
  readonly #pool: BufferPool | undefined;

  /**
   * `maxLine` counts the bytes before the LF, a CR before it excluded (SPEC §4).
   * With a `pool` of the initial size, the first buffer comes from it and
   * {@linkcode release} gives it back.
   */
  constructor(
    maxLine: number,
    options: { initialSize?: number; pool?: BufferPool | undefined } = {},
  ) {
    if (!Number.isSafeInteger(maxLine) || maxLine < 1) {
      throw new RangeError(`maxLine must be a positive integer: received ${maxLine}`);
    }
    this.maxLine = maxLine;
    this.#initialSize = options.initialSize ?? Math.min(INITIAL_BUFFER_BYTES, maxLine + 2);
    this.#pool = options.pool?.size === this.#initialSize ? options.pool : undefined;
    this.#buf = EMPTY;
  }

  /**
   * Empties the buffer and gives its memory back to the pool. Only when no
   * read into it is in flight; the buffer starts over on the next use.
   */
  release(): void {
    this.#pool?.give(this.#buf);
    this.#buf = EMPTY;
    this.#reset();
  }

  /** Bytes received and not yet taken out. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Bytes allocated right now (for the memory-bound tests). */
  get capacity(): number {
    return this.#buf.length;
  }

  /**
   * A writable region of at least `min` free bytes at the tail, to read into;
   * call {@linkcode commit} with the count written. Compacts before growing.
   */
  spare(min = 1): Uint8Array {
    if (this.#buf.length - this.#end < min) this.#makeRoom(min);
    return this.#buf.subarray(this.#end);
  }

  /** Records that `n` bytes were written into the region {@linkcode spare} returned. */
  commit(n: number): void {
    if (n < 0 || this.#end + n > this.#buf.length) {
      throw new RangeError(`commit(${n}) exceeds the spare region`);
    }
    this.#end += n;
  }

  /** Copies `chunk` in (for callers that do not read straight into {@linkcode spare}). */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      const room = this.spare(Math.min(chunk.length - offset, 64 * 1024));
      const n = Math.min(room.length, chunk.length - offset);
      room.set(chunk.subarray(offset, offset + n));
      this.commit(n);
      offset += n;
    }
  }

  /**
   * The next complete line without its LF and without a CR before it, or
   * null when more bytes are needed. The view is valid until the next
   * {@linkcode spare}/{@linkcode push}. Throws a fatal `line-too-long`
   * ProtocolError once the line in progress is longer than `maxLine`.
   */
  nextLine(): Uint8Array | null {
    const lf = this.#findLf();
    if (lf === -1) {
      this.#scan = this.#end;
      // One byte of slack: a CR may still be followed by the LF.
      if (this.#end - this.#start > this.maxLine + 1) throw this.#tooLong();
      if (this.#start === this.#end) this.#reset();
      return null;
    }
    let contentEnd = lf;
    if (contentEnd > this.#start && this.#buf[contentEnd - 1] === CR) contentEnd--;
    if (contentEnd - this.#start > this.maxLine) throw this.#tooLong();
    const line = this.#buf.subarray(this.#start, contentEnd);
    this.#start = this.#scan = lf + 1;
    return line;
  }

  /** Index of the first LF in the unscanned bytes, or -1. */
  #findLf(): number {
    const buf = this.#buf;
    const end = this.#end;
    // Short spans (a typical request) are scanned in JS; a subarray + indexOf costs more there.
    if (end - this.#scan <= SHORT_SCAN_BYTES) {
      for (let i = this.#scan; i < end; i++) if (buf[i] === LF) return i;
      return -1;
    }
    return buf.subarray(0, end).indexOf(LF, this.#scan);
  }

  /** Up to `max` raw bytes (a payload), or null when none are buffered. Same validity as nextLine. */
  take(max: number): Uint8Array | null {
    const n = Math.min(max, this.#end - this.#start);
    if (n <= 0) return null;
    const bytes = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    if (this.#scan < this.#start) this.#scan = this.#start;
    return bytes;
  }

  /** Copies up to `target.length` buffered bytes into `target` and consumes them; the count (0 if none). */
  takeInto(target: Uint8Array): number {
    const bytes = this.take(target.length);
    if (bytes === null) return 0;
    target.set(bytes);
    return bytes.length;
  }

  /** Everything still buffered (an unterminated last line at end of input), emptying the buffer. */
  takeAll(): Uint8Array {
    const bytes = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = this.#scan = 0;
    return bytes;
  }

  #tooLong(): ProtocolError {
    return new ProtocolError(
      "line-too-long",
      `request line exceeds ${this.maxLine} bytes; the limit is --max-line ${this.maxLine}`,
      true,
    );
  }

  #reset(): void {
    this.#start = this.#end = this.#scan = 0;
    if (this.#buf.length > SHRINK_ABOVE_BYTES) this.#buf = new Uint8Array(this.#initialSize);
  }

  #makeRoom(min: number): void {
    const live = this.#end - this.#start;
    if (this.#buf.length - live >= min && this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      let size = Math.max(this.#buf.length * 2, this.#initialSize);
      while (size - live < min) size *= 2;
      const next = size === this.#pool?.size ? this.#pool.take() : new Uint8Array(size);
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
    }
    this.#scan -= this.#start;
    this.#end = live;
    this.#start = 0;
  }
}

/**
 * Buffers that take turns for streamed bytes (a DATA body, an upload, a
 * file read ahead): a buffer handed out is not handed out again until
 * `count - 1` others have been, so with two a chunk stays valid until the
 * one after next is asked for. Allocated on first use.
 */
export class TurnBuffers {
  readonly #buffers: Uint8Array[] = [];
  #turn = 0;

  constructor(readonly length: number, readonly count = 2) {}

  /** The next buffer in turn. */
  next(): Uint8Array {
    const buffer = this.#buffers[this.#turn] ??= new Uint8Array(this.length);
    this.#turn = (this.#turn + 1) % this.count;
    return buffer;
  }
}

/** Unscanned spans up to this length are searched for LF in a JS loop. */
const SHORT_SCAN_BYTES = 64;

/** Largest read of a DATA body (a file being downloaded). */
const BODY_READ_BYTES = 1024 * 1024;

const EMPTY = new Uint8Array(0);

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Lines up to this length that are plain ASCII are decoded in JS, without a call into the runtime. */
const ASCII_FAST_PATH_BYTES = 128;

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
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  if (bytes.includes(0)) throw new ProtocolError("bad-request", "line contains a NUL byte");
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ProtocolError("bad-request", "line is not valid UTF-8");
  }
}

/** A decimal integer of any length with an optional sign (SPEC §4 "Numbers"). */
export const INTEGER_WORD = /^[+-]?\d+$/;

/** True for a line of nothing but spaces and tabs: it gets no reply (SPEC §4). */
export function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== SPACE && c !== TAB) return false;
  }
  return true;
}

/** True if `text` has a C0 control character or DEL (names and keys must not). */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isSeparator(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** One word of a request line and the index just past it. */
export interface Word {
  text: string;
  end: number;
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
  if (line.charCodeAt(i) !== QUOTE) {
    const start = i;
    while (i < line.length && !isSeparator(line.charCodeAt(i))) i++;
    return { text: line.slice(start, i), end: i };
  }
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
        const shown = i + 1 < line.length ? line[i + 1] : "end of line";
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
  return { text, end: i };
}

/** Splits a line into words from `from` on (quotes and escapes applied); error columns count from the line start. */
export function tokenize(line: string, from = 0): string[] {
  const words: string[] = [];
  let pos = from;
  for (let word = scanWord(line, pos); word !== null; word = scanWord(line, pos)) {
    words.push(word.text);
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
  /** The command name, upper-cased (command names are case-insensitive). */
  readonly command: string;
  readonly line: string;
  readonly #afterCommand: number;

  constructor(line: string) {
    const word = scanWord(line, 0);
    if (word === null) throw new RangeError("a request needs a non-blank line");
    this.line = line;
    this.command = word.text.toUpperCase();
    this.#afterCommand = word.end;
  }

  /** The words after the command name. Throws `bad-request` on bad quoting. */
  args(): string[] {
    return tokenize(this.line, this.#afterCommand);
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

/** A reply: `OK [text]`, `ERR code message`, or `DATA size [sha256]` with its bytes or a stream. */
export type Reply = LineReply | StreamReply;

/** A reply whose bytes are all in memory: `OK`, `ERR`, or a DATA with its body. */
export type LineReply =
  | { readonly kind: "ok"; readonly text?: string; readonly close?: boolean }
  | {
    readonly kind: "err";
    readonly code: ErrorCode;
    readonly message: string;
    readonly close?: boolean;
  }
  | { readonly kind: "data"; readonly body: Uint8Array; readonly sha256?: string };

/** A DATA reply whose body is streamed (a file): `size` bytes from `chunks()`, then `done()`. */
export interface StreamReply {
  readonly kind: "stream";
  readonly size: number;
  readonly sha256?: string;
  readonly chunks: () => AsyncIterable<Uint8Array>;
  readonly done: () => void;
}

/** `OK` or `OK <text>`; the text must not contain a LF. */
export function ok(text?: string, options: { close?: boolean } = {}): LineReply {
  const reply: { kind: "ok"; text?: string; close?: boolean } = { kind: "ok" };
  if (text !== undefined) reply.text = text;
  if (options.close) reply.close = true;
  return reply;
}

/** `ERR <code> <message>`. */
export function err(
  code: ErrorCode,
  message: string,
  options: { close?: boolean } = {},
): LineReply {
  return options.close
    ? { kind: "err", code, message, close: true }
    : { kind: "err", code, message };
}

/** `DATA <size> [<sha256>]` + body; a string body is UTF-8 encoded. */
export function data(body: Uint8Array | string, sha256?: string): LineReply {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  return sha256 === undefined
    ? { kind: "data", body: bytes }
    : { kind: "data", body: bytes, sha256 };
}

/** A DATA body from text lines (each followed by a LF), as lists, HELP and STATS use. */
export function dataLines(lines: readonly string[]): LineReply {
  return data(lines.length === 0 ? "" : lines.join("\n") + "\n");
}

/** The reply for a ProtocolError. */
export function errorReply(error: ProtocolError): LineReply {
  return err(error.code, error.message, { close: error.fatal });
}

/** The header line of a DATA reply, LF included. */
export function dataHeader(size: number, sha256?: string): string {
  return sha256 === undefined ? `DATA ${size}\n` : `DATA ${size} ${sha256}\n`;
}

/** The first line of a reply (LF included); for DATA, the header only. */
export function replyLine(reply: Reply): string {
  switch (reply.kind) {
    case "ok":
      return reply.text === undefined ? "OK\n" : `OK ${reply.text}\n`;
    case "err":
      return `ERR ${reply.code} ${reply.message}\n`;
    case "data":
      return dataHeader(reply.body.length, reply.sha256);
    case "stream":
      return dataHeader(reply.size, reply.sha256);
  }
}

/** The whole reply as bytes (tests and simple callers; the server uses ReplyWriter). */
export function encodeReply(reply: Reply): Uint8Array {
  if (reply.kind === "stream") {
    throw new TypeError("a streamed reply cannot be encoded in one piece");
  }
  const head = encoder.encode(replyLine(reply));
  if (reply.kind !== "data") return head;
  const out = new Uint8Array(head.length + reply.body.length + 1);
  out.set(head);
  out.set(reply.body, head.length);
  out[out.length - 1] = LF;
  return out;
}

/** A reply as the client sees it; DATA bodies are collected in memory. */
export type ParsedReply =
  | { kind: "ok"; text?: string }
  | { kind: "err"; code: string; message: string }
  | { kind: "data"; body: Uint8Array; sha256?: string };

/** The header of a DATA reply whose body follows. */
export interface DataHeader {
  size: number;
  sha256?: string;
}

const lenient = new TextDecoder();

/** Parses `DATA <size> [<sha256>]`; throws on anything else. */
export function parseDataHeader(line: string): DataHeader {
  const match = /^DATA (\d{1,16})(?: ([0-9a-f]{64}))?$/.exec(line);
  if (match === null || !Number.isSafeInteger(Number(match[1]))) {
    throw new ProtocolError(
      "bad-request",
      `malformed DATA header from server: ${line.slice(0, 80)}`,
    );
  }
  const header: DataHeader = { size: Number(match[1]) };
  if (match[2] !== undefined) header.sha256 = match[2];
  return header;
}

/** Parses one non-DATA reply line (`OK …` or `ERR code message`). */
export function parseReplyLine(line: string): ParsedReply {
  if (line === "OK") return { kind: "ok" };
  if (line.startsWith("OK ")) return { kind: "ok", text: line.slice(3) };
  if (line.startsWith("ERR ")) {
    const space = line.indexOf(" ", 4);
    return space === -1
      ? { kind: "err", code: line.slice(4), message: "" }
      : { kind: "err", code: line.slice(4, space), message: line.slice(space + 1) };
  }
  throw new ProtocolError("bad-request", `unexpected reply from server: ${line.slice(0, 80)}`);
}

/** Minimal reader shape (a Deno.Conn, a test double). */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** Thrown by ReplyReader when the server closes before a whole reply arrived. */
export class ConnectionClosedError extends Error {
  override name = "ConnectionClosedError";
}

/** Longest reply line the client accepts; a server sending more is broken. */
const MAX_REPLY_LINE = 16 * 1024 * 1024;
/** Largest DATA body {@linkcode ReplyReader.read} collects in memory; files stream instead. */
const MAX_BUFFERED_DATA = 256 * 1024 * 1024;

/**
 * Reads replies from a byte source: one line, and for DATA its body and LF.
 * The client and the tests use it; nothing about the reply format is written
 * twice.
 */
export class ReplyReader {
  readonly #source: ByteSource;
  readonly #frame = new FrameBuffer(MAX_REPLY_LINE);

  constructor(source: ByteSource) {
    this.#source = source;
  }

  /** Reads one full reply; throws ConnectionClosedError at EOF. */
  async read(): Promise<ParsedReply> {
    const line = await this.readLine();
    if (!line.startsWith("DATA ")) return parseReplyLine(line);
    const header = parseDataHeader(line);
    if (header.size > MAX_BUFFERED_DATA) {
      throw new ProtocolError(
        "too-large",
        `DATA reply of ${header.size} bytes is too large to buffer`,
      );
    }
    const body = new Uint8Array(header.size);
    let filled = 0;
    for await (const chunk of this.body(header.size)) {
      body.set(chunk, filled);
      filled += chunk.length;
    }
    return header.sha256 === undefined
      ? { kind: "data", body }
      : { kind: "data", body, sha256: header.sha256 };
  }

  /** Reads one reply line (without the LF). */
  async readLine(): Promise<string> {
    for (;;) {
      const line = this.#frame.nextLine();
      if (line !== null) return lenient.decode(line);
      if (!await this.#fill()) throw new ConnectionClosedError("server closed the connection");
    }
  }

  /**
   * Streams a DATA body of `size` bytes and consumes its trailing LF. Two
   * buffers take turns, so each chunk is valid until the one after next is
   * requested (a caller may write one chunk behind while the next arrives).
   */
  async *body(size: number): AsyncGenerator<Uint8Array> {
    let left = size;
    const turns = new TurnBuffers(Math.min(BODY_READ_BYTES, Math.max(size, 1)));
    while (left > 0) {
      const buffer = turns.next().subarray(0, Math.min(left, BODY_READ_BYTES));
      // Bytes already in the line buffer are copied out (the line buffer may move them later);
      // the rest comes straight from the socket into our buffer, in large reads.
      let n: number | null = this.#frame.takeInto(buffer);
      if (n === 0) n = await this.#source.read(buffer);
      if (n === null) throw new ConnectionClosedError("server closed mid-reply");
      left -= n;
      yield buffer.subarray(0, n);
    }
    while (this.#frame.buffered === 0) {
      if (!await this.#fill()) throw new ConnectionClosedError("server closed mid-reply");
    }
    const lf = this.#frame.take(1);
    if (lf === null || lf[0] !== LF) {
      throw new ProtocolError("bad-request", "DATA body is not followed by a LF");
    }
  }

  async #fill(): Promise<boolean> {
    const room = this.#frame.spare(64 * 1024);
    const n = await this.#source.read(room);
    if (n === null) return false;
    this.#frame.commit(n);
    return true;
  }
}
