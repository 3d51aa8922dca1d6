/**
 * ReadBudget: a scheduling quantum shared by every connection's read loop.
 * After `quantum` reads, the next reader waits (and so do all the others)
 * until the event loop has been idle once, so that it polls the OS for I/O
 * readiness before the busy connections go on.
 *
 * Why the product needs this (SPEC §10, S4), from the C load generator run
 * by hand (`loadgen -c 1000 --first-reply-latency`, server on CPU 0) against
 * a plain Deno echo (traced with strace) and against this server:
 *
 * - A connection whose client answers quickly is read *eagerly*: Deno tries
 *   the read syscall at once while the socket is still marked readable,
 *   without asking epoll. Under saturation every such read finds data
 *   (strace: 29,696 reads, none EAGAIN), so the busy connections keep the
 *   loop running on eager reads alone and epoll is asked rarely (~50
 *   epoll_wait/s at ~150k requests/s).
 * - A connection that has just been accepted, or has been quiet, has nothing
 *   marked readable: its read completes only after epoll reports it. Under
 *   that load, a new connection's first read completed a median 0.6–1.1 s
 *   and a p90 of 1.6–7 s after accept, and some not within 8 s.
 * - Pausing every reader after a quantum, on a step that completes on
 *   another thread, leaves the loop idle for a moment; the runtime then
 *   polls epoll and the quiet connections get their turn. S4 against this
 *   server with the C generator (1000 connections, runs interleaved):
 *   without the quantum, 734–1000 of 1000 answered at all, first reply
 *   median 0.67–4.0 s; with a quantum of 64, 993–1000 answered, median
 *   0.16–0.29 s in 6 of 7 runs (0.84 s in one). The p90 stayed 0.24–5.3 s
 *   either way: what delays the last tenth is still open. 50-connection
 *   throughput (S1) cost: 1.1–1.5 % over 3 pairs.
 *   A timer as the pause (setTimeout 0) waits ~1 ms and halved
 *   50-connection throughput; setImmediate does not leave the loop idle and
 *   did not help. Smaller quanta (32) did not do better than 64.
 *
 * The pause is a SHA-256 of nothing through `crypto.subtle`, because Deno
 * runs it on its blocking thread pool: the cheapest operation that needs no
 * permission and finishes off the event-loop thread.
 */

/** Reads between pauses: small enough to bound a quiet client's wait, large enough to cost nothing measurable. */
export const READ_QUANTUM = 64;

const NOTHING = new Uint8Array(0);

/** Completes on another thread, so the event loop is idle (and polls the OS) until it does. */
function idleOnce(): Promise<unknown> {
  return crypto.subtle.digest("SHA-256", NOTHING);
}

export class ReadBudget {
  readonly quantum: number;
  readonly #idle: () => Promise<unknown>;
  #left: number;
  #pause: Promise<void> | null = null;
  #pauses = 0;

  constructor(quantum = READ_QUANTUM, idle: () => Promise<unknown> = idleOnce) {
    if (!Number.isInteger(quantum) || quantum < 1) {
      throw new RangeError("quantum must be a positive integer");
    }
    this.quantum = quantum;
    this.#left = quantum;
    this.#idle = idle;
  }

  /** Pauses taken so far. */
  get pauses(): number {
    return this.#pauses;
  }

  /**
   * Called before each read. Usually undefined (read now, no promise made);
   * once the quantum is spent, a promise that every reader awaits until the
   * pause is over.
   */
  take(): Promise<void> | undefined {
    if (this.#pause !== null) return this.#pause;
    if (--this.#left > 0) return undefined;
    this.#pauses++;
    return this.#pause = this.#idle().then(() => this.#refill(), () => this.#refill());
  }

  #refill(): void {
    this.#pause = null;
    this.#left = this.quantum;
  }
}
