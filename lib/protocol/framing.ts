/**
 * Request framing (docs/protocol.md#commands, docs/protocol.md#limits-and-bad-input): bytes in, complete lines and raw payload
 * bytes out, with the line limit enforced while the line is still arriving.
 * No sockets here: the bytes are pushed in (or read straight into
 * `spare()`), so it is tested without a network and shared by the server
 * and the client's reply reader.
 *
 * Written by hand rather than taken from a library because the protocol is
 * the product: its limits (bounded buffering, byte-exact "rest of line") are
 * part of the contract.
 */
import { ProtocolError } from "./errors.ts";
import { decommit, growable } from "../growable_buffer.ts";

const LF = 10;
const CR = 13;

/** Bytes a fresh connection buffer starts with; small so 10,000 idle clients stay cheap. */
export const INITIAL_BUFFER_BYTES = 4096;
/**
 * A drained buffer larger than this is given back, so one long line does not
 * pin memory forever. Below it a buffer is kept: a client that sends 10 KB
 * lines one after another does not map and unmap pages for each.
 */
const SHRINK_ABOVE_BYTES = 16 * 1024;
/**
 * Largest address range one buffer reserves for growing in place; a line
 * limit that would need more grows by copying into plain buffers instead.
 */
const MAX_RESERVED_BYTES = 64 * 1024 * 1024;

/** The fatal `line-too-long` error for a request line over `maxLine` (docs/protocol.md#limits-and-bad-input, `--max-line`). */
export function lineTooLong(maxLine: number): ProtocolError {
  return new ProtocolError(
    "line-too-long",
    `request line exceeds ${maxLine} bytes; the limit is --max-line ${maxLine}`,
    true,
  );
}

/**
 * Where a frame buffer's first buffer may come from and go back to (the
 * server keeps such a pool, so that a new connection reuses a closed one's
 * buffer): buffers of `size` bytes.
 */
export interface FramePool {
  readonly size: number;
  /** A buffer of `size` bytes. */
  take(): Uint8Array<ArrayBuffer>;
  /** Takes `buffer` back, which no one may use any more. */
  give(buffer: Uint8Array<ArrayBuffer>): void;
}

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
  /** Bytes past `maxLine` that are still framed, for the caller to judge (see the constructor). */
  readonly #headroom: number;
  readonly #initialSize: number;
  readonly #pool: FramePool | undefined;
  /** A long line was consumed: swap the grown buffer for a small one at the next spare(). */
  #shrinkDue = false;
  /**
   * The view nextLine() returned last, where it starts and the buffer it is
   * of: a line at the same place, as each PING is in a buffer emptied
   * between reads, reuses it (a subarray costs about 40 ns). A view is only
   * valid until the next spare() or push() anyway, and a line can only be
   * at the same place again after one.
   */
  #line = EMPTY;
  #lineStart = 0;
  #lineOf: Uint8Array = EMPTY;

  /**
   * `maxLine` counts the bytes before the LF, a CR before it excluded (docs/protocol.md#commands).
   * Lines up to `headroom` bytes longer are still framed, for a caller whose
   * limit counts only part of some lines (KV SET counts its value); it
   * refuses the rest with {@linkcode tooLong}. With a `pool` of the initial
   * size, the first buffer comes from it and {@linkcode release} gives it back.
   */
  constructor(
    maxLine: number,
    options: { initialSize?: number; pool?: FramePool | undefined; headroom?: number } = {},
  ) {
    if (!Number.isSafeInteger(maxLine) || maxLine < 1) {
      throw new RangeError(`maxLine must be a positive integer: received ${maxLine}`);
    }
    this.maxLine = maxLine;
    this.#headroom = options.headroom ?? 0;
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
    decommit(this.#buf);
    this.#buf = EMPTY;
    this.#start = this.#end = this.#scan = 0;
    this.#shrinkDue = false;
    this.#line = this.#lineOf = EMPTY;
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
   * An empty buffer is handed out whole, not as a new view: making a
   * subarray costs about 40 ns, and a server that answers every line before
   * its next read (S1) reads into an empty buffer each time.
   */
  spare(min = 1): Uint8Array {
    if (this.#shrinkDue) this.#shrink();
    if (this.#buf.length - this.#end < min) this.#makeRoom(min);
    return this.#end === 0 ? this.#buf : this.#buf.subarray(this.#end);
  }

  /** Records that `n` bytes were written into the region {@linkcode spare} returned. */
  commit(n: number): void {
    if (n < 0 || this.#end + n > this.#buf.length) throw beyondSpare(n);
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
      if (this.#end - this.#start > this.maxLine + this.#headroom + 1) throw this.tooLong();
      if (this.#start === this.#end) this.#reset();
      return null;
    }
    let contentEnd = lf;
    if (contentEnd > this.#start && this.#buf[contentEnd - 1] === CR) contentEnd--;
    if (contentEnd - this.#start > this.maxLine + this.#headroom) throw this.tooLong();
    const start = this.#start;
    this.#start = this.#scan = lf + 1;
    const last = this.#line;
    if (
      start === this.#lineStart && contentEnd - start === last.length && this.#lineOf === this.#buf
    ) {
      return last;
    }
    this.#lineStart = start;
    this.#lineOf = this.#buf;
    return this.#line = this.#buf.subarray(start, contentEnd);
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

  /** The fatal `line-too-long` error, naming `maxLine`. */
  tooLong(): ProtocolError {
    return lineTooLong(this.maxLine);
  }

  #reset(): void {
    this.#start = this.#end = this.#scan = 0;
    // Not now: the line just returned is a view of this buffer until the next spare().
    if (this.#buf.length > SHRINK_ABOVE_BYTES) this.#shrinkDue = true;
  }

  /** Swaps a grown, empty buffer for a first-size one and returns the grown one's pages. */
  #shrink(): void {
    this.#shrinkDue = false;
    if (this.#start !== this.#end) return;
    decommit(this.#buf);
    this.#buf = this.#pool?.take() ?? new Uint8Array(this.#initialSize);
    this.#start = this.#end = this.#scan = 0;
  }

  /**
   * A buffer of `size` bytes holding the live bytes at its start. Past the
   * first size a buffer grows in place, in pages that go back to the system
   * when it shrinks (growable_buffer.ts): with plain buffers, 10,000 clients
   * that had each held 60 KB of an unfinished line left the server at 875
   * MiB; now it is back to 117 MiB (scripts/memory_probe.ts lines). In place
   * also leaves no copies behind for the collector.
   */
  #grow(size: number): Uint8Array<ArrayBuffer> {
    const live = this.#buf.subarray(this.#start, this.#end);
    const current = this.#buf.buffer;
    if (current.resizable && size <= current.maxByteLength) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      current.resize(size);
      return new Uint8Array(current, 0, size);
    }
    if (size === this.#pool?.size) {
      const pooled = this.#pool.take();
      pooled.set(live);
      return pooled;
    }
    const next = new Uint8Array(growable(size, this.#reserveBytes()), 0, size);
    next.set(live);
    decommit(this.#buf);
    return next;
  }

  /** The address range a grown buffer reserves: room for the longest line and one read, doubled. */
  #reserveBytes(): number {
    let bytes = this.#initialSize;
    while (bytes < this.maxLine + this.#headroom + 2) bytes *= 2;
    return Math.min(bytes * 4, MAX_RESERVED_BYTES);
  }

  #makeRoom(min: number): void {
    const live = this.#end - this.#start;
    if (this.#buf.length - live >= min && this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      let size = Math.max(this.#buf.length * 2, this.#initialSize);
      while (size - live < min) size *= 2;
      this.#buf = this.#grow(size);
    }
    this.#scan -= this.#start;
    this.#end = live;
    this.#start = 0;
  }
}

/** The error of a commit past the spare region (a function of its own keeps commit() small enough to inline). */
function beyondSpare(n: number): RangeError {
  return new RangeError(`commit(${n}) exceeds the spare region`);
}

/** Unscanned spans up to this length are searched for LF in a JS loop. */
const SHORT_SCAN_BYTES = 64;

const EMPTY = new Uint8Array(0);
