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
 * PING waited for them (p99 143 ms under 640 pipelined WHOs). Date.now(),
 * a V8 builtin, is cheap enough to read once per request.
 */
export const TURN_MS = 4;

/** One connection's current turn: begun before its buffered requests are answered. */
export class Turn {
  #answered = 0;
  #endsAt = 0;

  /** A new turn starts now. */
  begin(): void {
    this.#answered = 0;
    this.#endsAt = Date.now() + TURN_MS;
  }

  /** Counts one answered request; true once the turn is spent (by count or by time). */
  answered(): boolean {
    return ++this.#answered === TURN_REQUESTS || Date.now() >= this.#endsAt;
  }
}

/** Lets the event loop poll other connections before this one goes on (a macrotask, not a microtask). */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
