/**
 * The transfer-rate floor of docs/protocol.md#limits-and-bad-input (`--min-rate` over each
 * `--request-timeout` window): an upload or a download that moves fewer
 * bytes than that in a window is cut. A deadline for the whole transfer
 * would cut a slow but honest 1 GiB upload; a check on every byte would let
 * a peer hold its slot by trickling one byte at a time. A floor per window
 * does neither. The reader keeps one for payloads, the reply writer one for
 * streamed DATA bodies; the server's sweep asks them (timeout_sweep.ts).
 */
export class RateFloor {
  readonly #minBytes: number;
  readonly #windowMs: number;
  #windowStart = 0;
  #bytes = 0;
  #active = false;

  /** At least `minRate` bytes a second over each window of `windowMs`; either 0 turns the floor off. */
  constructor(minRate: number, windowMs: number) {
    this.#windowMs = windowMs;
    this.#minBytes = minRate * windowMs / 1000;
  }

  /** A transfer begins: the first window starts now. */
  start(now: number): void {
    this.#active = this.#windowMs > 0 && this.#minBytes > 0;
    this.#windowStart = now;
    this.#bytes = 0;
  }

  /** A transfer is being watched (started, not stopped, and the floor is on). */
  get active(): boolean {
    return this.#active;
  }

  /** `n` bytes moved. */
  add(n: number): void {
    this.#bytes += n;
  }

  /** The transfer ended (whole or not): nothing more to check. */
  stop(): void {
    this.#active = false;
  }

  /**
   * True if the window that has run its course moved too few bytes; a
   * window that moved enough makes way for the next one.
   */
  tooSlow(now: number): boolean {
    if (!this.#active || now - this.#windowStart < this.#windowMs) return false;
    if (this.#bytes < this.#minBytes) return true;
    this.#windowStart = now;
    this.#bytes = 0;
    return false;
  }
}
