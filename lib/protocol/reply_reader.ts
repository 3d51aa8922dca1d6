/**
 * Reading replies (the client's side of docs/protocol.md#commands): one line, and for DATA
 * its body and the LF after it. The client and the tests both read replies
 * with this; nothing about the reply format is written twice.
 */
import { TurnBuffers } from "../chunks.ts";
import type { ByteSource } from "../io.ts";
import { ProtocolError } from "./errors.ts";
import { FrameBuffer } from "./framing.ts";

const LF = 10;
/** Largest read of a DATA body (a file being downloaded). */
const BODY_READ_BYTES = 1024 * 1024;

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
    return await this.replyFrom(await this.readLine());
  }

  /**
   * The whole reply whose first line, `line`, was already read with
   * {@linkcode readLine}: a DATA body is read, any other line parsed.
   */
  async replyFrom(line: string): Promise<ParsedReply> {
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
      const line = this.#nextLine();
      if (line !== null) return lenient.decode(line);
      if (!await this.#fill()) throw new ConnectionClosedError("server closed the connection");
    }
  }

  /** The frame's next line; one too long is the server's fault, said in the client's words. */
  #nextLine(): Uint8Array | null {
    try {
      return this.#frame.nextLine();
    } catch (error) {
      if (!(error instanceof ProtocolError) || error.code !== "line-too-long") throw error;
      // The frame's own message names the server's --max-line, which is no concern of a client.
      throw new ProtocolError(
        "line-too-long",
        `a reply line over ${MAX_REPLY_LINE} bytes: not a switchboard server, or a broken one`,
        true,
      );
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
