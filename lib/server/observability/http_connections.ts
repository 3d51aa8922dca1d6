/**
 * The metrics port's connection bookkeeping (docs/observability.md#health): at most
 * a fixed number of connections open at once, and when all are taken, a newcomer
 * replaces the oldest one that has not sent a complete request.
 *
 * Why replace and not refuse: with refusing, 70 idle connections (a port
 * scanner, a misconfigured agent, an attacker) failed 60 of 60 `/healthz`
 * probes, and a balancer took a healthy server out. A connection that has
 * not sent its request yet costs the server nothing to drop, while one that
 * has (a scrape being written, a live page's event stream) is real work.
 * Routing lives in metrics_endpoint.ts; this file knows only connections.
 */
import { closeQuietly } from "../../io.ts";

/** One open connection and whether its request head arrived whole. */
interface Slot {
  requested: boolean;
}

/** What {@linkcode HttpConnections.admit} did with a newcomer. */
export type Admission = "admitted" | "replaced" | "refused";

/** The open connections of one HTTP listener, oldest first. */
export class HttpConnections<C extends { close(): void }> {
  readonly #max: number;
  /** Insertion order is accept order: the first waiting entry is the oldest. */
  readonly #open = new Map<C, Slot>();

  /** `max`: connections open at once; beyond it, the oldest waiting one is closed. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`max connections must be a positive integer: received ${max}`);
    }
    this.#max = max;
  }

  /** Connections open now. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Takes a newly accepted connection. When every place is taken, closes the
   * oldest connection that has not sent a complete request and admits the
   * newcomer in its place; when every open one is busy with a request, closes
   * the newcomer ("refused").
   */
  admit(conn: C): Admission {
    if (this.#open.size < this.#max) {
      this.#open.set(conn, { requested: false });
      return "admitted";
    }
    for (const [old, slot] of this.#open) {
      if (slot.requested) continue;
      this.#open.delete(old);
      closeQuietly(old);
      this.#open.set(conn, { requested: false });
      return "replaced";
    }
    closeQuietly(conn);
    return "refused";
  }

  /** Marks `conn`'s request as complete: from now on it is never replaced. */
  requested(conn: C): void {
    const slot = this.#open.get(conn);
    if (slot !== undefined) slot.requested = true;
  }

  /** Forgets `conn` and closes it (it may have been closed already). */
  release(conn: C): void {
    this.#open.delete(conn);
    closeQuietly(conn);
  }

  /** Closes every open connection. */
  closeAll(): void {
    for (const conn of this.#open.keys()) closeQuietly(conn);
    this.#open.clear();
  }
}
