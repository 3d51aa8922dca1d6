/**
 * The reading side of one connection (Go's `net/http` keeps its `connReader`
 * apart from `conn` the same way): the frame buffer, the one read in flight,
 * reading ahead while the connection waits in the queue or while a long
 * command runs, request payloads, and noticing that the peer has gone.
 * The handler (client_handler.ts) keeps the lifecycle and the serve loop.
 *
 * There is never more than one read on the socket: a read started in the
 * background (queued, or watching a command) is joined by the serve loop
 * instead of being raced by a second one, and it lands in a scratch buffer
 * that is copied in when it completes, because the serve loop may consume
 * the frame buffer meanwhile and the frame must only change synchronously.
 */
import { TurnBuffers } from "../../chunks.ts";
import { LINE_HEADROOM } from "../../commands/command.ts";
import { RateFloor } from "./rate_floor.ts";
import { CutShortError } from "../../io.ts";
import type { BufferPool } from "./buffer_pool.ts";
import { FrameBuffer, INITIAL_BUFFER_BYTES } from "../../protocol/mod.ts";
import type { Logger } from "../log.ts";

/** The connection as the reader uses it (a Deno.TcpConn in the server). */
export interface ReadableConn {
  read(p: Uint8Array): Promise<number | null>;
  /** Used for zero-length writes that tell a reset from a half-close. */
  write(p: Uint8Array): Promise<number>;
}

/** Smallest free space a read asks for; the buffer grows toward a line's length only when needed. */
const MIN_READ_BYTES = 2048;
/** Read size for request payloads (uploads): large reads for throughput, two buffers per upload. */
const PAYLOAD_READ_BYTES = 1024 * 1024;
/**
 * What a queued connection reads ahead at most: its first buffer's worth.
 * Reading up to a whole line (--max-line, 64 KiB) let each queued client
 * that sent a long unfinished line grow its buffer to 128 KiB: 4,000 of
 * them took the server from 106 to 530 MiB. Past this, the rest waits in
 * the socket (TCP's flow control), and a hang-up behind it is seen when
 * the client's turn comes.
 */
const QUEUED_READ_AHEAD_BYTES = INITIAL_BUFFER_BYTES;
/**
 * Zero-length writes tried after end of input during a command, to see a
 * reset that follows a FIN (see {@linkcode ConnReader.watch}); after the
 * last one the peer counts as half-closed and its command runs to the end.
 */
const RESET_PROBES = 8;
const RESET_PROBE_FIRST_GAP_MS = 10;
/*
 * Idle times use Date.now(): it is a V8 builtin, while performance.now() is
 * a call into Deno's runtime, measurably dearer when taken on every read;
 * second-scale timeouts do not need monotonic sub-millisecond time.
 */

/** Why a peer's connection is overdue (see {@linkcode ConnReader.overdue}). */
export type InputOverdue =
  /** Silent between requests for --idle-timeout. */
  | "idle"
  /** A request line still incomplete --request-timeout after its first byte (slowloris). */
  | "request"
  /** A payload moving slower than --min-rate over a --request-timeout window. */
  | "payload"
  /** A payload with no rate floor (--min-rate 0) that stopped for --idle-timeout. */
  | "payload-idle";

/** Options of {@linkcode ConnReader}. */
export interface ReaderOptions {
  /** SPEC `--max-line`. */
  maxLine: number;
  /** SPEC `--idle-timeout` in ms; 0: never. */
  idleTimeoutMs: number;
  /** SPEC `--request-timeout` in ms; 0: never (and no rate floor). */
  requestTimeoutMs: number;
  /** SPEC `--min-rate`, bytes a second; 0: no floor. */
  minRate: number;
  /** Counts every byte received (STATS `bytes_in`). */
  stats: { bytes_in: number };
  logger: Logger;
  /** The peer whose bytes these are, for log lines. */
  session: number;
  /** Called once when the peer is found gone (a reset), to cancel its work. */
  onGone: () => void;
  /** Where the frame buffer's first buffer comes from (lib/server/connection/buffer_pool.ts). */
  pool?: BufferPool | undefined;
}

/** Reads one connection's bytes into its frame buffer. */
export class ConnReader {
  /** Bytes received and not yet consumed: request lines, payload bytes. */
  readonly frame: FrameBuffer;
  readonly #conn: ReadableConn;
  readonly #options: ReaderOptions;
  /** Bytes read ahead while queued or while a command runs (TCP flow control then holds the rest). */
  readonly #readAheadLimit: number;
  /** The background read in flight; it resolves to the bytes it put in the frame, or null at the end. */
  #pending: Promise<number | null> | null = null;
  /** The serve loop's read in flight is the background one (its bytes are already in the frame). */
  #joined = false;
  /** Announced payload bytes (FILE PUT) not consumed yet; never read as requests. */
  #payloadLeft = 0;
  /** How fast the payload in progress arrives. */
  readonly #payloadRate: RateFloor;
  #ended = false;
  #waiting = false;
  #idleSince = 0;
  /** Date.now() when the incomplete request line in the buffer began; 0 when there is none. */
  #lineSince = 0;

  constructor(conn: ReadableConn, options: ReaderOptions) {
    this.#conn = conn;
    this.#options = options;
    this.frame = new FrameBuffer(options.maxLine, { pool: options.pool, headroom: LINE_HEADROOM });
    this.#readAheadLimit = options.maxLine + LINE_HEADROOM + 2;
    this.#payloadRate = new RateFloor(options.minRate, options.requestTimeoutMs);
  }

  /** The peer's input has ended: a FIN, a reset, or the connection was closed. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The serve loop is parked in a read between requests: the peer is idle, not mid-request. */
  get waitingForInput(): boolean {
    return this.#waiting;
  }

  /** Date.now() when the latest read started: the peer has been silent since then. */
  get idleSince(): number {
    return this.#idleSince;
  }

  /** A read may still write into a buffer: the frame buffer must not be given back yet. */
  get reading(): boolean {
    return this.#pending !== null || this.#waiting;
  }

  /** The clock of idleness starts over (the handler starts, or a command finished). */
  resetIdle(): void {
    this.#idleSince = Date.now();
  }

  /**
   * The serve loop's read, straight into the frame buffer; the socket
   * read's own promise, so a request costs no promise of ours (measured in
   * the previous round: 0.6–1.6 % of S1). Hand its result to
   * {@linkcode landed}, or its rejection to {@linkcode failed}. If a
   * background read is in flight, this joins it.
   */
  read(): Promise<number | null> {
    const now = Date.now();
    this.#waiting = true;
    this.#idleSince = now;
    // The serve loop reads only once every complete line is answered, so
    // what is still buffered is the start of a line: its clock starts now.
    if (this.frame.buffered === 0) this.#lineSince = 0;
    else if (this.#lineSince === 0) this.#lineSince = now;
    if (this.#pending !== null) {
      this.#joined = true;
      return this.#pending;
    }
    this.#joined = false;
    return this.#conn.read(this.frame.spare(MIN_READ_BYTES));
  }

  /** Accounts for a {@linkcode read}; false at end of input. */
  landed(n: number | null): boolean {
    this.#waiting = false;
    if (n === null) {
      this.#ended = true;
      return false;
    }
    if (!this.#joined) {
      this.#options.stats.bytes_in += n;
      this.frame.commit(n);
    }
    return true;
  }

  /** A {@linkcode read} that rejected: a disconnect is the end of input; anything else is a bug, rethrown. */
  failed(error: unknown): false {
    this.#waiting = false;
    if (!isDisconnect(error)) throw error;
    this.#gone();
    return false;
  }

  /**
   * What the peer is overdue for at `now`, if anything (asked by the
   * server's sweep): silent too long between requests, a request line
   * trickling in for longer than the request timeout, or a payload slower
   * than the rate floor. A command in progress is never overdue here.
   */
  overdue(now: number): InputOverdue | undefined {
    const { idleTimeoutMs, requestTimeoutMs } = this.#options;
    const silent = idleTimeoutMs > 0 && now - this.#idleSince >= idleTimeoutMs;
    if (this.#waiting) {
      if (this.#lineSince > 0 && requestTimeoutMs > 0) {
        return now - this.#lineSince >= requestTimeoutMs ? "request" : undefined;
      }
      // Between requests, or half a line with no request timeout: silence is the bound.
      return silent ? "idle" : undefined;
    }
    if (this.#payloadRate.active) return this.#payloadRate.tooSlow(now) ? "payload" : undefined;
    return this.#payloadLeft > 0 && silent ? "payload-idle" : undefined;
  }

  /**
   * Reads ahead while `keepGoing()` (the connection is queued), up to
   * {@linkcode QUEUED_READ_AHEAD_BYTES}, so that a hang-up is seen at once
   * and no byte is lost. Resolves true if the input ended meanwhile.
   */
  async readAhead(keepGoing: () => boolean): Promise<boolean> {
    try {
      while (keepGoing() && !this.#ended && this.frame.buffered < QUEUED_READ_AHEAD_BYTES) {
        if (await this.#background() === null) break;
      }
    } catch {
      // Not a disconnect, but the end of this connection's input all the same.
      this.#ended = true;
    }
    return this.#ended;
  }

  /**
   * Keeps reading while a long command runs (`busy`), so that a reset
   * connection is noticed (and cancels the command through `onGone`)
   * instead of only when the reply fails. Bytes that arrive are kept for
   * the requests that follow. Never rejects.
   */
  async watch(busy: Promise<unknown>): Promise<void> {
    let finished = false;
    busy.then(() => finished = true, () => finished = true);
    while (!finished && !this.#ended && this.frame.buffered < this.#readAheadLimit) {
      try {
        if (await this.#background() !== null) continue;
      } catch {
        return; // the serve loop sees the same failure on its next read
      }
      // End of input: a half-close, or a close. A zero-length write tells
      // them apart once the peer's reset has arrived: it fails only on a
      // connection that is really gone. A peer on Deno or tokio closes with
      // a FIN and then, a moment later, a reset, so the write is tried a few
      // times over about a second before the peer counts as half-closed; a
      // half-closed peer still gets its reply.
      const gone = await this.#resetFollows(busy, () => finished);
      if (gone) this.#gone();
      if (!finished) {
        const seen = gone ? "client gone during a command" : "client half-closed during a command";
        this.#options.logger.debug(seen, { client: this.#options.session });
      }
      return;
    }
  }

  /**
   * The `size` raw bytes that follow a request line (FILE PUT): first what
   * is already buffered, then straight from the socket in large reads. Two
   * buffers take turns, so each chunk is valid until the one after next is
   * asked for (the file store writes one chunk behind while the next
   * arrives). Throws CutShortError if the peer stops sending early. The
   * size is announced at once: what is not read is dropped by
   * {@linkcode skipPayload}.
   */
  payload(size: number): AsyncGenerator<Uint8Array> {
    this.#payloadLeft = size;
    this.#payloadRate.start(Date.now());
    return this.#payloadChunks(size);
  }

  async *#payloadChunks(size: number): AsyncGenerator<Uint8Array> {
    const turns = new TurnBuffers(Math.min(PAYLOAD_READ_BYTES, Math.max(size, 1)));
    while (this.#payloadLeft > 0) {
      const buffer = turns.next().subarray(0, Math.min(this.#payloadLeft, PAYLOAD_READ_BYTES));
      const n = await this.#payloadRead(buffer);
      if (n === null) throw new CutShortError(size - this.#payloadLeft, size);
      this.#payloadLeft -= n;
      yield buffer.subarray(0, n);
    }
  }

  /**
   * Reads and drops what is left of an announced payload that the command
   * did not consume (it refused the name, or failed to store), so that the
   * next request starts where the payload ends. False if the input ended first.
   */
  async skipPayload(): Promise<boolean> {
    if (this.#payloadLeft === 0) return true;
    const scratch = new Uint8Array(Math.min(PAYLOAD_READ_BYTES, this.#payloadLeft));
    while (this.#payloadLeft > 0) {
      const n = await this.#payloadRead(
        scratch.subarray(0, Math.min(this.#payloadLeft, scratch.length)),
      );
      if (n === null) return false;
      this.#payloadLeft -= n;
    }
    return true;
  }

  /**
   * Fills `target` with payload bytes: from the frame buffer if it holds
   * some, else with one read; null at the end of input. A payload is part
   * of the request in hand, not the peer being idle: a shutdown lets it
   * finish (docs/protocol.md#shutdown), and the rate floor, not the idle timeout, bounds it.
   */
  async #payloadRead(target: Uint8Array): Promise<number | null> {
    // Bytes already in the frame buffer come first (a payload sent while the
    // connection was queued is all there); they are copied out, since the
    // frame may move them later.
    let n: number | null = this.frame.takeInto(target);
    if (n === 0 && this.#pending !== null) {
      // A background read is in flight (read-ahead while queued, or the
      // watch): its bytes land in the frame buffer, and only then is the
      // socket free for a read of ours. Waiting for it before taking what
      // was buffered deadlocked a payload that had arrived whole while queued.
      if (await this.#pending === null) return this.#payloadEnd(null);
      n = this.frame.takeInto(target);
    } else if (n === 0) n = await this.#readInto(target);
    if (n === null) return this.#payloadEnd(null);
    this.#payloadRate.add(n);
    if (n === this.#payloadLeft) this.#payloadEnd(n);
    return n;
  }

  /** The payload is over (whole, or cut short): the rate floor stops watching it. */
  #payloadEnd(n: number | null): number | null {
    this.#payloadRate.stop();
    return n;
  }

  /**
   * Starts (or joins) a background read: it goes into a scratch buffer that
   * is copied into the frame buffer when it completes.
   */
  #background(): Promise<number | null> {
    if (this.#pending !== null) return this.#pending;
    const scratch = new Uint8Array(MIN_READ_BYTES);
    return this.#pending = this.#readInto(scratch)
      .then((n) => {
        if (n !== null) this.frame.push(scratch.subarray(0, n));
        return n;
      })
      .finally(() => this.#pending = null);
  }

  /**
   * One read into `target` (a payload chunk, or a background read's
   * scratch buffer) with the idle clock and byte accounting; null at the
   * end of input or when the peer is gone.
   */
  async #readInto(target: Uint8Array): Promise<number | null> {
    this.#idleSince = Date.now();
    try {
      const n = await this.#conn.read(target);
      if (n === null) this.#ended = true;
      else this.#options.stats.bytes_in += n;
      return n;
    } catch (error) {
      if (!isDisconnect(error)) throw error;
      this.#gone();
      return null;
    }
  }

  /**
   * After end of input while a command runs: true if a reset arrives within
   * {@linkcode RESET_PROBES} zero-length writes (spaced 10, 20, 40 … ms, about
   * 1.3 s in all), false once the command is done or the probes are spent.
   */
  async #resetFollows(busy: Promise<unknown>, finished: () => boolean): Promise<boolean> {
    let gap = RESET_PROBE_FIRST_GAP_MS;
    for (let probe = 0; probe < RESET_PROBES && !finished(); probe++) {
      if (!await this.#writable()) return true;
      // Wait out the gap, or less if the command finishes (no timer is left behind).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, gap);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        busy.then(done, done);
      });
      gap *= 2;
    }
    return false;
  }

  /** False if the connection is broken (the peer reset it or went away). */
  async #writable(): Promise<boolean> {
    try {
      await this.#conn.write(new Uint8Array(0));
      return true;
    } catch {
      return false;
    }
  }

  /** The peer is gone (reset or closed): no more input, and its work is cancelled. */
  #gone(): void {
    this.#ended = true;
    this.#options.onGone();
  }
}

/** Errors that only mean the peer went away (or the connection was closed under a read). */
export function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.Interrupted;
}
