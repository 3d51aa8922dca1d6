/**
 * The reply side of the wire format (docs/protocol.md#commands "Replies"): the three shapes
 * (`OK`, `ERR`, `DATA`), constructors for them, and their encoding. The
 * server's ReplyWriter encodes replies into its own buffer with
 * `replyLine`; `encodeReply` is the whole reply in one piece.
 */
import type { ErrorCode, ProtocolError } from "./errors.ts";
import { growable } from "../growable_buffer.ts";

const LF = 10;
const encoder = new TextEncoder();

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

/**
 * Address range a DATA lines body reserves to grow in place: a listing of
 * 10,000 keys of up to 250 bytes (2.5 MB), with the 3-bytes-per-character
 * room that encoding asks for. A larger body grows by copying.
 */
const LINES_RESERVED_BYTES = 8 * 1024 * 1024;

/**
 * A DATA body of text lines built one line at a time, encoded as it goes:
 * for a long listing, one copy of the bytes instead of an array of strings,
 * their join and its encoding. The body grows in place in pages of its own
 * (growable_buffer.ts) and is handed out without a copy, so a listing's
 * bytes go back to the system when the reply is dropped instead of staying
 * with the C allocator.
 */
export class DataLinesBuilder {
  #buf = new Uint8Array(1024);
  #len = 0;

  /** Appends `line` and a LF. */
  line(text: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit, plus the LF.
    const room = text.length * 3 + 1;
    if (this.#buf.length - this.#len < room) {
      let size = this.#buf.length * 2;
      while (size - this.#len < room) size *= 2;
      this.#buf = this.#grow(size);
    }
    this.#len += encoder.encodeInto(text, this.#buf.subarray(this.#len)).written;
    this.#buf[this.#len++] = LF;
  }

  /** The lines so far, as a DATA reply's body: a view, valid until the next line. */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  #grow(size: number): Uint8Array<ArrayBuffer> {
    const current = this.#buf.buffer;
    if (current.resizable && size <= current.maxByteLength) {
      current.resize(size);
      return new Uint8Array(current, 0, size);
    }
    const next = new Uint8Array(growable(size, LINES_RESERVED_BYTES), 0, size);
    next.set(this.#buf.subarray(0, this.#len));
    return next;
  }

  /** The DATA reply of the lines so far. */
  reply(): LineReply {
    return data(this.bytes());
  }
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
