/**
 * The reading side of one connection (Go's `net/http` keeps its `connReader`
 * apart from `conn` the same way): the frame buffer, the one read in flight,
 * reading ahead while the connection waits in the queue or while a long
 * command runs, and noticing that the peer has gone. Request payloads are
 * read by its PayloadReader (payload_reader.ts), with the reads it lends.
 * The handler (client_handler.ts) keeps the lifecycle and the serve loop.
 *
 * There is never more than one read on the socket: a read started in the
 * background (queued, or watching a command) is joined by the serve loop
 * instead of being raced by a second one, and it lands in a scratch buffer
 * that is copied in when it completes, because the serve loop may consume
 * the frame buffer meanwhile and the frame must only change synchronously.
 */
import type { BufferPool } from "./buffer_pool.ts";
import { PayloadReader } from "./payload_reader.ts";
import { FrameBuffer, INITIAL_BUFFER_BYTES } from "../../protocol/mod.ts";
import type { Logger } from "../log.ts";
import { isDisconnect } from "../peer_errors.ts";

/** The connection as the reader uses it (a Deno.TcpConn in the server). */
export interface ReadableConn {
  read(p: Uint8Array): Promise<number | null>;
  /** Used for zero-length writes that tell a reset from a half-close. */
  write(p: Uint8Array): Promise<number>;
}

/**
 * How far past `--max-line` a request line is still framed, for a command
 * whose `measuredLength` counts less than the whole line (KV SET counts its
 * value only): its `KV SET <key> ` (a key is at most 250 bytes) fits in it.
 */
export const LINE_HEADROOM = 300;
/** Smallest free space a read asks for; the buffer grows toward a line's length only when needed. */
const MIN_READ_BYTES = 2048;
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
 * The first read of a queued connection that has sent nothing yet: most
 * wait in silence, and their read is there only to notice a hang-up. A
 * small buffer keeps that wait cheap (a pending read pins its buffer);
 * once bytes arrive, reads take MIN_READ_BYTES again.
 */
const QUEUED_FIRST_READ_BYTES = 64;
/**
 * Zero-length writes tried after end of input during a command, to see a
 * reset that follows a FIN (see {@linkcode ConnReader.watch}); after the
 * last one the peer counts as half-closed and its command runs to the end.
 */
const RESET_PROBES = 8;
const RESET_PROBE_FIRST_GAP_MS = 10;
/*
 * Idle times use Date.now(): it is a V8 builtin, while performance.now() is
 * a call into Deno's runtime, measurably dearer; second-scale timeouts do
 * not need monotonic sub-millisecond time. The serve loop's read, once per
 * request, reads no clock at all: its idle clock starts when the server's
 * sweep first sees it waiting (see {@linkcode ConnReader.overdue}).
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
  /** `--max-line`. */
  maxLine: number;
  /** `--idle-timeout` in ms; 0: never. */
  idleTimeoutMs: number;
  /** `--request-timeout` in ms; 0: never (and no rate floor). */
  requestTimeoutMs: number;
  /** `--min-rate`, bytes a second; 0: no floor. */
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
  /** A read or a probe found the connection broken (see {@linkcode #gone}). */
  #isGone = false;
  /** The serve loop's read in flight is the background one (its bytes are already in the frame). */
  #joined = false;
  /** Reads the request payloads (FILE PUT) that follow a request line. */
  readonly #payload: PayloadReader;
  #ended = false;
  #waiting = false;
  /** Date.now() when the peer fell silent; 0 when unknown yet (a serve loop read the sweep has not seen). */
  #idleSince = 0;
  /** Date.now() when the incomplete request line in the buffer began; 0 when there is none. */
  #lineSince = 0;

  constructor(conn: ReadableConn, options: ReaderOptions) {
    this.#conn = conn;
    this.#options = options;
    this.frame = new FrameBuffer(options.maxLine, { pool: options.pool, headroom: LINE_HEADROOM });
    this.#readAheadLimit = options.maxLine + LINE_HEADROOM + 2;
    this.#payload = new PayloadReader({
      frame: this.frame,
      inFlight: () => this.#pending,
      readInto: (target) => this.#readInto(target),
    }, { minRate: options.minRate, windowMs: options.requestTimeoutMs });
  }

  /** The peer's input has ended: a FIN, a reset, or the connection was closed. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The serve loop is parked in a read between requests: the peer is idle, not mid-request. */
  get waitingForInput(): boolean {
    return this.#waiting;
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
   * read's own promise, so a request costs no promise of ours (one per read
   * cost 0.6–1.6 % of S1). Hand its result to
   * {@linkcode landed}, or its rejection to {@linkcode failed}. If a
   * background read is in flight, this joins it. The idle clock is left
   * to the sweep (no clock reading per request).
   */
  read(): Promise<number | null> {
    this.#waiting = true;
    this.#idleSince = 0;
    // The other cases live apart, so that this stays small enough for V8 to inline into the serve loop.
    if (this.frame.buffered !== 0 || this.#pending !== null) return this.#readBehind();
    this.#lineSince = 0;
    this.#joined = false;
    return this.#conn.read(this.frame.spare(MIN_READ_BYTES));
  }

  /** {@linkcode read} with the start of a line buffered, or a background read to join. */
  #readBehind(): Promise<number | null> {
    // The serve loop reads only once every complete line is answered, so
    // what is still buffered is the start of a line: its clock starts now.
    if (this.frame.buffered === 0) this.#lineSince = 0;
    else if (this.#lineSince === 0) this.#lineSince = Date.now();
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
   * than the rate floor. A command in progress is never overdue here. A
   * read the sweep sees for the first time starts its idle clock at `now`:
   * never early, and at most one sweep late (timeout_sweep.ts sweeps
   * twice as often for it).
   */
  overdue(now: number): InputOverdue | undefined {
    const { idleTimeoutMs, requestTimeoutMs } = this.#options;
    if (this.#idleSince === 0) this.#idleSince = now;
    const silent = idleTimeoutMs > 0 && now - this.#idleSince >= idleTimeoutMs;
    if (this.#waiting) {
      if (this.#lineSince > 0 && requestTimeoutMs > 0) {
        return now - this.#lineSince >= requestTimeoutMs ? "request" : undefined;
      }
      // Between requests, or half a line with no request timeout: silence is the bound.
      return silent ? "idle" : undefined;
    }
    if (this.#payload.watched) return this.#payload.tooSlow(now) ? "payload" : undefined;
    return this.#payload.left > 0 && silent ? "payload-idle" : undefined;
  }

  /**
   * Reads ahead while `keepGoing()` (the connection is queued), up to
   * {@linkcode QUEUED_READ_AHEAD_BYTES}, so that a hang-up is seen at once
   * and no byte is lost. Resolves true if the input ended meanwhile.
   */
  async readAhead(keepGoing: () => boolean): Promise<boolean> {
    try {
      while (keepGoing() && !this.#ended && this.frame.buffered < QUEUED_READ_AHEAD_BYTES) {
        const size = this.frame.buffered === 0 ? QUEUED_FIRST_READ_BYTES : MIN_READ_BYTES;
        if (await this.#background(size) === null) break;
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
   * Reads ahead while the connection waits in the queue ({@linkcode readAhead})
   * and resolves true once the peer has hung up: its input ended with
   * nothing pending, or it reset. An end with requests pending may be a
   * half-close (`nc -N`), which is owed its replies, so it is probed for a
   * reset first ({@linkcode #resetFollows}, while `waiting()`): the TLS port
   * reports a reset as an end of input (`node:tls` over Deno ends the socket
   * and keeps it writable), and only a write tells the two apart there.
   * False while it still waits, or for a half-close.
   */
  async hungUpWhileQueued(waiting: () => boolean): Promise<boolean> {
    if (!await this.readAhead(waiting) || !waiting()) return false;
    if (this.frame.buffered === 0 || this.#isGone) return true;
    const gone = await this.#resetFollows(undefined, () => !waiting());
    if (gone) this.#gone();
    return gone;
  }

  /** The `size` payload bytes that follow the request line in hand (see PayloadReader.start). */
  payload(size: number): AsyncGenerator<Uint8Array> {
    return this.#payload.start(size);
  }

  /** Drops what the command left of its payload; false if the input ended first (see PayloadReader.skip). */
  skipPayload(): Promise<boolean> {
    return this.#payload.skip();
  }

  /**
   * Starts (or joins) a background read: it goes into a scratch buffer that
   * is copied into the frame buffer when it completes.
   */
  #background(size = MIN_READ_BYTES): Promise<number | null> {
    if (this.#pending !== null) return this.#pending;
    const scratch = new Uint8Array(size);
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
  async #resetFollows(
    busy: Promise<unknown> | undefined,
    finished: () => boolean,
  ): Promise<boolean> {
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
        busy?.then(done, done);
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
    this.#isGone = true;
    this.#options.onGone();
  }
}
