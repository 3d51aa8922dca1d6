/**
 * Fair turns between connections: one connection answers its pipelined
 * requests for a bounded turn, then lets the event loop serve the others
 * before it goes on. Without the bound, one client pipelining thousands of
 * requests (or a few costly ones) holds every other client's reply.
 */
import { setImmediate } from "node:timers";

/**
 * Requests answered from one connection's buffer before the others get a
 * turn. Under 1,000 clients pipelining without reading, answering a whole
 * read's worth at once (800 PINGs) made every round of the event loop long
 * and a bystander's PING wait seconds; S6's 16 requests in flight stay
 * within one turn.
 */
export const TURN_REQUESTS = 64;
/**
 * A turn also ends once it has taken this long, whatever the count: a
 * pipeline of costly requests (WHO over a queue of 1,024, CALC on
 * 30,000-digit numbers) made 64-request turns of 0.9 s, and a bystander's
 * PING waited for them (p99 143 ms under 640 pipelined WHOs).
 */
export const TURN_MS = 4;

/**
 * One connection's current turn: begun before its buffered requests are
 * answered. The clock is read only when a request has more bytes behind it,
 * the only case in which the turn can go on after it: a request alone in its
 * read (S1, and most interactive traffic) ends its turn anyway, and reading
 * the clock before and after each one was 2 of the 4 clock readings that
 * cost S1 about 100 ns a request (docs/performance.md#s1-where-the-time-goes).
 */
export class Turn {
  #answered = 0;
  /** Date.now() + TURN_MS, from the first request that had more behind it; 0 until then. */
  #endsAt = 0;

  /** A new turn starts now. */
  begin(): void {
    this.#answered = 0;
    this.#endsAt = 0;
  }

  /** Before answering a request: with bytes behind it (`more`), the turn's clock starts if it has not. */
  next(more: boolean): void {
    if (more && this.#endsAt === 0) this.#endsAt = Date.now() + TURN_MS;
  }

  /**
   * Counts one answered request; true once the turn is spent (by count or by
   * time). Asked only while more bytes are buffered. Bytes that arrived
   * while a command answered later (the reader's watch) start the clock
   * here: the thread served the others meanwhile.
   */
  answered(): boolean {
    if (++this.#answered === TURN_REQUESTS) return true;
    const now = Date.now();
    if (this.#endsAt === 0) this.#endsAt = now + TURN_MS;
    return now >= this.#endsAt;
  }
}

/** Lets the event loop poll other connections before this one goes on (a macrotask, not a microtask). */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
