/**
 * The write path of one connection: replies are encoded straight into one
 * buffer and sent with as few writes as possible. Replies to pipelined
 * requests that are ready together leave in one write (docs/performance.md S6), and a
 * short write (`conn.write` may write less than asked) is continued, never
 * dropped. No sockets here: it writes to anything with a `write` method.
 */
import type { BufferPool } from "./buffer_pool.ts";
import { type ByteSink, writeAll } from "../../io.ts";
import { type LineReply, type Reply, replyLine } from "../../protocol/mod.ts";
import { RateFloor } from "./rate_floor.ts";
import { decommit, growable } from "../../growable_buffer.ts";

/** Options of {@linkcode ReplyWriter}. */
export interface ReplyWriterOptions {
  /** The server's STATS counters: `bytes_out` is bumped by every byte written. */
  stats?: { bytes_out: number };
  /** Where the first buffer comes from and goes back to (lib/server/connection/buffer_pool.ts). */
  pool?: BufferPool | undefined;
  /** A write that makes no progress this long (ms) is overdue; 0: never. */
  stallMs?: number;
  /** A streamed DATA body must move this many bytes a second over each `stallMs` window; 0: no floor. */
  minRate?: number;
}

/** Why a peer's connection is overdue on the writing side (see {@linkcode ReplyWriter.overdue}). */
export type OutputOverdue =
  /** A write made no progress for the stall limit: the peer stopped reading. */
  | "stalled"
  /** A streamed DATA body (FILE GET) moving slower than --min-rate. */
  | "download";

/** Bytes the buffer starts with; grows on demand. */
export const INITIAL_REPLY_BYTES = 1024;
/** Once pending output passes this, the caller should flush before doing more work. */
export const FLUSH_THRESHOLD = 64 * 1024;
/** A buffer grown past this by a large reply is given back after the flush. */
const SHRINK_ABOVE_BYTES = 256 * 1024;
/**
 * The address range a grown buffer reserves (growable_buffer.ts): room for
 * replies a turn buffers before flushing, with a large reply on top. A reply
 * larger than this grows by copying into plain buffers.
 */
const RESERVED_BYTES = 4 * 1024 * 1024;
/** DATA bodies larger than this are written directly instead of being copied into the buffer. */
const COPY_BODY_BELOW = 16 * 1024;

/** Text up to this many UTF-16 units is tried as ASCII first. */
const ASCII_FAST_PATH_CHARS = 128;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const NOTHING_TO_DO = Promise.resolve();

/** Buffers encoded replies and flushes them to a sink. */
export class ReplyWriter {
  #buf = EMPTY;
  #len = 0;
  /**
   * The view the last {@linkcode writeOnce} wrote, and the buffer it is of:
   * the next one of the same length reuses it (a subarray costs about 40 ns;
   * replies to a client's repeated command are mostly the same length).
   */
  #sent = EMPTY;
  #sentOf = EMPTY;
  readonly #sink: ByteSink;
  readonly #stats: { bytes_out: number } | undefined;
  readonly #pool: BufferPool | undefined;
  readonly #stallMs: number;
  readonly #streamRate: RateFloor;
  #streaming = false;
  /** Total bytes handed to the sink. */
  bytesWritten = 0;
  /** A write is in flight. */
  #writing = false;
  /**
   * Date.now() when the write in flight started, or, for the serve loop's
   * {@linkcode writeOnce}, when the sweep first saw it; 0 when unknown yet.
   * A stalled reader shows here.
   */
  #writingSince = 0;

  /**
   * Accounting (`stats.bytes_out`) happens here rather than in a wrapper
   * around the sink: that saves a promise per write on the hot path. With a
   * `pool` of {@linkcode INITIAL_REPLY_BYTES}, the first buffer comes from
   * it and {@linkcode release} gives it back.
   */
  constructor(sink: ByteSink, options: ReplyWriterOptions = {}) {
    this.#sink = sink;
    this.#stats = options.stats;
    this.#pool = options.pool?.size === INITIAL_REPLY_BYTES ? options.pool : undefined;
    this.#stallMs = options.stallMs ?? 0;
    this.#streamRate = new RateFloor(options.minRate ?? 0, this.#stallMs);
  }

  /**
   * What the peer is overdue for at `now` (asked by the server's sweep): a
   * write stuck with no progress for the stall limit, or a streamed body
   * slower than the rate floor. Either way nothing more can be said to it.
   */
  overdue(now: number): OutputOverdue | undefined {
    if (this.#writing && this.#stallMs > 0) {
      // A writeOnce the sweep sees for the first time: its clock starts now (never early).
      if (this.#writingSince === 0) this.#writingSince = now;
      else if (now - this.#writingSince >= this.#stallMs) return "stalled";
    }
    return this.#streamRate.tooSlow(now) ? "download" : undefined;
  }

  /** A write is in flight: the buffer must not be given back or written over. */
  get writing(): boolean {
    return this.#writing;
  }

  /** Drops what is pending and gives the buffer back to the pool. Only when no write is in flight. */
  release(): void {
    this.#pool?.give(this.#buf);
    decommit(this.#buf);
    this.#buf = EMPTY;
    this.#len = 0;
    this.#sent = this.#sentOf = EMPTY;
  }

  /** A streamed DATA body is being written: nothing else may be written now. */
  get streaming(): boolean {
    return this.#streaming;
  }

  /** Bytes encoded and not yet flushed. */
  get pending(): number {
    return this.#len;
  }

  /** Appends an encoded reply; a large or streamed DATA body is flushed through without a copy. */
  async add(reply: Reply): Promise<void> {
    this.text(replyLine(reply));
    if (reply.kind === "stream") {
      this.#streaming = true;
      try {
        await this.flush();
        this.#streamRate.start(Date.now());
        await this.stream(reply.chunks());
      } finally {
        this.#streaming = false;
        this.#streamRate.stop();
        reply.done();
      }
      this.bytes(LF_BYTES);
      return;
    }
    if (reply.kind !== "data") return;
    if (reply.body.length < COPY_BODY_BELOW) {
      this.bytes(reply.body);
    } else {
      await this.flush();
      await this.#writeAll(reply.body);
    }
    this.bytes(LF_BYTES);
  }

  /** Appends a reply that has no large or streamed body; no await needed on the hot path. */
  addLine(reply: LineReply): void {
    if (reply.kind === "ok" && reply.text !== undefined) {
      // `OK <text>` goes in as its pieces: building the line first made a new string per reply.
      this.#reserve(reply.text.length * 3 + 4);
      const buf = this.#buf;
      buf[this.#len] = O;
      buf[this.#len + 1] = K;
      buf[this.#len + 2] = SPACE;
      this.#len += 3;
      this.text(reply.text);
      this.#buf[this.#len++] = LF;
      return;
    }
    this.text(replyLine(reply));
    if (reply.kind === "data") {
      this.bytes(reply.body);
      this.bytes(LF_BYTES);
    }
  }

  /** Flushes, then writes each chunk of a streamed body as it comes; the caller adds the final LF. */
  async stream(chunks: AsyncIterable<Uint8Array>): Promise<number> {
    await this.flush();
    let total = 0;
    for await (const chunk of chunks) {
      await this.#writeAll(chunk);
      total += chunk.length;
    }
    return total;
  }

  /** Appends UTF-8 text. */
  text(s: string): void {
    // UTF-8 never needs more than 3 bytes per UTF-16 code unit.
    this.#reserve(s.length * 3);
    if (s.length <= ASCII_FAST_PATH_CHARS) {
      // Short ASCII replies (OK PONG, OK 5) are copied in JS: no call into the runtime per reply.
      const buf = this.#buf;
      let at = this.#len;
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[at++] = c;
      }
      if (i === s.length) {
        this.#len = at;
        return;
      }
    }
    const { written } = encoder.encodeInto(s, this.#buf.subarray(this.#len));
    this.#len += written;
  }

  /** Appends raw bytes. */
  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  /**
   * Writes everything pending, continuing after short writes. Not async
   * itself: the promise is the write loop's, one promise less per reply.
   */
  flush(): Promise<void> {
    if (this.#len === 0) return NOTHING_TO_DO;
    const len = this.#len;
    this.#len = 0;
    return this.#writeAll(this.#buf.subarray(0, len), true);
  }

  /**
   * The serve loop's flush (pending > 0): one write, whose own promise is
   * returned, so a reply costs no promise of ours. Hand its result to
   * {@linkcode wrote}, or call {@linkcode writeFailed} if it rejects. It
   * reads no clock: the sweep times the write from when it first sees it
   * ({@linkcode overdue}), which saved one of S1's four clock readings a
   * request (docs/performance.md#s1-where-the-time-goes).
   */
  writeOnce(): Promise<number> {
    this.#writing = true;
    this.#writingSince = 0;
    if (this.#sent.length !== this.#len || this.#sentOf !== this.#buf) {
      this.#sent = this.#buf.subarray(0, this.#len);
      this.#sentOf = this.#buf;
    }
    return this.#sink.write(this.#sent);
  }

  /** Accounts for a {@linkcode writeOnce}; false if a short write left bytes to {@linkcode flush}. */
  wrote(n: number): boolean {
    this.#writing = false;
    // The rare cases live apart, so that this stays small enough for V8 to inline into the serve loop.
    if (n <= 0 || n < this.#len) return this.#wroteShort(n);
    this.#count(n);
    this.#len = 0;
    if (this.#buf.length > SHRINK_ABOVE_BYTES) this.#shrink();
    return true;
  }

  /** The rest of {@linkcode wrote} for a write that wrote less than asked. */
  #wroteShort(n: number): false {
    if (n <= 0) throw new Error(`write made no progress (${n} bytes)`);
    this.#count(n);
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
    return false;
  }

  /** A {@linkcode writeOnce} that rejected: no write is in flight any more. */
  writeFailed(): void {
    this.#writing = false;
  }

  /**
   * Writes all of `bytes` through {@linkcode #accounted}. After writing this
   * writer's own buffer (`ownBuffer`), a buffer that a large reply grew is
   * given back.
   */
  async #writeAll(bytes: Uint8Array, ownBuffer = false): Promise<void> {
    await writeAll(this.#accounted, bytes);
    if (ownBuffer && this.#buf.length > SHRINK_ABOVE_BYTES) this.#shrink();
  }

  /** After a large reply is written (nothing in flight reads the buffer): a small buffer again. */
  #shrink(): void {
    decommit(this.#buf);
    this.#buf = new Uint8Array(INITIAL_REPLY_BYTES);
  }

  /** The sink, with each write timed (a stalled reader shows in `#writingSince`) and counted. */
  readonly #accounted: ByteSink = {
    write: async (bytes) => {
      this.#writing = true;
      this.#writingSince = Date.now();
      try {
        const n = await this.#sink.write(bytes);
        this.#count(n);
        this.#streamRate.add(n);
        return n;
      } finally {
        this.#writing = false;
      }
    },
  };

  #count(n: number): void {
    this.bytesWritten += n;
    if (this.#stats) this.#stats.bytes_out += n;
  }

  #reserve(n: number): void {
    if (this.#buf.length - this.#len >= n) return;
    let size = Math.max(this.#buf.length * 2, INITIAL_REPLY_BYTES);
    while (size - this.#len < n) size *= 2;
    const current = this.#buf.buffer;
    if (current.resizable && size <= current.maxByteLength) {
      current.resize(size);
      this.#buf = new Uint8Array(current, 0, size);
      return;
    }
    // The old buffer is left to the collector, not decommitted: a write may still be reading it.
    const next = size === this.#pool?.size
      ? this.#pool.take()
      : new Uint8Array(growable(size, RESERVED_BYTES), 0, size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
}

const LF = 10;
const LF_BYTES = new Uint8Array([LF]);
const O = 0x4f;
const K = 0x4b;
const SPACE = 0x20;

/**
 * Writes one last line to `sink` (while the serve loop may be parked in a
 * read), then calls `close`, which must end the connection. The line gets
 * `lingerMs` to go out: a peer that takes no bytes (its window full, never
 * reading) would otherwise hold the write, and with it its connection and
 * running slot, for ever; closing ends the write.
 */
export function sayLast(
  sink: ByteSink,
  reply: LineReply,
  options: { stats: { bytes_out: number }; lingerMs: number; close: () => void },
): void {
  const timer = setTimeout(options.close, options.lingerMs);
  const out = new ReplyWriter(sink, { stats: options.stats });
  out.addLine(reply);
  out.flush().catch(() => {}).finally(() => {
    clearTimeout(timer);
    options.close();
  });
}
