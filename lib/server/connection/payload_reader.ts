/**
 * The payload side of reading a connection: the raw bytes announced by a
 * request line (FILE PUT's `size`), taken first from what the frame buffer
 * already holds, then straight from the socket in large reads, kept above
 * `--min-rate` by its own rate floor, and skipped to their end when the
 * command does not read them, so that they are never parsed as requests.
 * The ConnReader (reader.ts) owns the socket and lends this its reads.
 */
import { TurnBuffers } from "../../chunks.ts";
import { CutShortError } from "../../io.ts";
import type { FrameBuffer } from "../../protocol/mod.ts";
import { RateFloor } from "./rate_floor.ts";

/** Read size for request payloads (uploads): large reads for throughput, two buffers per upload. */
const PAYLOAD_READ_BYTES = 1024 * 1024;

/** What a payload reads from: the connection's frame buffer and its reads. */
export interface PayloadSource {
  /** Bytes received and not consumed; a payload's first bytes may be there. */
  readonly frame: FrameBuffer;
  /** The background read in flight, whose bytes land in the frame; null if none. */
  inFlight(): Promise<number | null> | null;
  /** One read into `target`; null at the end of input or when the peer is gone. */
  readInto(target: Uint8Array): Promise<number | null>;
}

/** Reads the payloads of one connection, one at a time. */
export class PayloadReader {
  readonly #source: PayloadSource;
  /** Announced payload bytes not consumed yet; never read as requests. */
  #left = 0;
  /** How fast the payload in progress arrives. */
  readonly #rate: RateFloor;

  /** Payloads must keep `minRate` bytes a second over windows of `windowMs` (either 0: no floor). */
  constructor(source: PayloadSource, limits: { minRate: number; windowMs: number }) {
    this.#source = source;
    this.#rate = new RateFloor(limits.minRate, limits.windowMs);
  }

  /** Announced bytes not yet read (or skipped). */
  get left(): number {
    return this.#left;
  }

  /** A payload is arriving and its rate floor is on. */
  get watched(): boolean {
    return this.#rate.active;
  }

  /** The payload in progress moved less than the floor over its last window. */
  tooSlow(now: number): boolean {
    return this.#rate.tooSlow(now);
  }

  /**
   * The `size` raw bytes that follow a request line: two buffers take
   * turns, so each chunk is valid until the one after next is asked for
   * (the file store writes one chunk behind while the next arrives).
   * Throws CutShortError if the peer stops sending early. The size is
   * announced at once: what is not read is dropped by {@linkcode skip}.
   */
  start(size: number): AsyncGenerator<Uint8Array> {
    this.#left = size;
    this.#rate.start(Date.now());
    return this.#chunks(size);
  }

  async *#chunks(size: number): AsyncGenerator<Uint8Array> {
    const turns = new TurnBuffers(Math.min(PAYLOAD_READ_BYTES, Math.max(size, 1)));
    while (this.#left > 0) {
      const buffer = turns.next().subarray(0, Math.min(this.#left, PAYLOAD_READ_BYTES));
      const n = await this.#read(buffer);
      if (n === null) throw new CutShortError(size - this.#left, size);
      this.#left -= n;
      yield buffer.subarray(0, n);
    }
  }

  /**
   * Reads and drops what is left of an announced payload that the command
   * did not consume (it refused the name, or failed to store), so that the
   * next request starts where the payload ends. False if the input ended first.
   */
  async skip(): Promise<boolean> {
    if (this.#left === 0) return true;
    const scratch = new Uint8Array(Math.min(PAYLOAD_READ_BYTES, this.#left));
    while (this.#left > 0) {
      const n = await this.#read(scratch.subarray(0, Math.min(this.#left, scratch.length)));
      if (n === null) return false;
      this.#left -= n;
    }
    return true;
  }

  /**
   * Fills `target` with payload bytes: from the frame buffer if it holds
   * some, else with one read; null at the end of input. A payload is part
   * of the request in hand, not the peer being idle: a shutdown lets it
   * finish (docs/protocol.md#shutdown), and the rate floor, not the idle
   * timeout, bounds it.
   */
  async #read(target: Uint8Array): Promise<number | null> {
    const source = this.#source;
    // Bytes already in the frame buffer come first (a payload sent while the
    // connection was queued is all there); they are copied out, since the
    // frame may move them later.
    let n: number | null = source.frame.takeInto(target);
    const inFlight = source.inFlight();
    if (n === 0 && inFlight !== null) {
      // A background read is in flight (read-ahead while queued, or the
      // watch): its bytes land in the frame buffer, and only then is the
      // socket free for a read of ours. Waiting for it before taking what
      // was buffered deadlocked a payload that had arrived whole while queued.
      if (await inFlight === null) return this.#end(null);
      n = source.frame.takeInto(target);
    } else if (n === 0) n = await source.readInto(target);
    if (n === null) return this.#end(null);
    this.#rate.add(n);
    if (n === this.#left) this.#end(n);
    return n;
  }

  /** The payload is over (whole, or cut short): the rate floor stops watching it. */
  #end(n: number | null): number | null {
    this.#rate.stop();
    return n;
  }
}
