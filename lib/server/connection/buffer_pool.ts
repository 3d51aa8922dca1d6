/**
 * BufferPool: the buffers every connection starts with (its read buffer and
 * its reply buffer), kept when a connection ends and handed to the next one.
 *
 * Why the product needs this (docs/performance.md, S3: connect, one request, close):
 * each connection allocated a 4 KiB read buffer and a 1 KiB reply buffer.
 * At 14,000 connections/s that is 70 MB/s of ArrayBuffers, and V8 collects
 * after so much memory outside its heap: in a CPU profile of switchboard
 * under S3 (C loadgen, `--churn -c 4`), the garbage collector took 6.8 % of
 * all samples, about 15 % of the time the server was busy.
 *
 * Only whole buffers of the pool's size come back (a buffer that grew for a
 * long line is left to the garbage collector), and only buffers that no read
 * or write can still touch: the caller gives them back once the connection
 * is closed and nothing is in flight. At most `limit` are kept.
 */
export class BufferPool {
  readonly size: number;
  readonly limit: number;
  readonly #free: Uint8Array<ArrayBuffer>[] = [];

  constructor(size: number, limit: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError("size must be a positive integer");
    }
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError("limit must be an integer ≥ 0");
    this.size = size;
    this.limit = limit;
  }

  /** Buffers waiting to be reused. */
  get available(): number {
    return this.#free.length;
  }

  /** A buffer of `size` bytes: a kept one if there is one (its old bytes still in it), else a new one. */
  take(): Uint8Array<ArrayBuffer> {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /** Keeps `buffer` for reuse when it is a whole buffer of this pool's size and there is room. */
  give(buffer: Uint8Array<ArrayBuffer>): void {
    const whole = buffer.byteOffset === 0 && buffer.buffer.byteLength === this.size;
    if (whole && buffer.length === this.size && this.#free.length < this.limit) {
      this.#free.push(buffer);
    }
  }
}
