/**
 * The Manager (docs/protocol.md#admission-the-queue-and-its-limits): admission of client handlers. At most `maxRunning`
 * run at once; the rest wait in a FIFO queue and the next one starts the
 * moment a running one finishes — in the same tick, event-driven, not on a
 * 1-second poll as in the lab version.
 *
 * Why not a bare semaphore (e.g. a counting lock each handler awaits)? A
 * semaphore hides its waiters. The Manager must see them: to remove one that
 * hangs up while waiting (it must never take a slot), to time one out, to
 * refuse newcomers once the queue is full, to count running + queued per
 * remote address, to list them for WHO, and to tell each one at shutdown.
 * So it owns the queue itself. A `Set` keeps insertion order, which gives
 * FIFO with O(1) removal from the middle.
 *
 * No lock guards this state: every change below is a synchronous step on the
 * event-loop thread, finished before any other task can observe it.
 */
import { err, type LineReply } from "../../protocol/mod.ts";
import type { Logger } from "../log.ts";
import { perAddressKey } from "../../security/address.ts";
import type { Stats } from "../observability/stats.ts";

/** What the Manager needs from a handler; ClientHandler implements it, tests use fakes. */
export interface ManagedHandler {
  /** Remote address (without port), for `maxPerIp`. */
  readonly address: string;
  /** Called once when the handler is put in the queue; it calls `leave` if it hangs up there. */
  enqueued(leave: () => void): void;
  /** Runs the handler to completion; its slot frees when the promise settles. */
  run(): Promise<void>;
  /** Sends `reply` (an ERR line) and closes. Never throws. */
  refuse(reply: LineReply): void;
  /** Graceful stop: finish the request in hand, then say shutdown and close. */
  shutdown(): void;
  /** Close now (the drain timeout passed). */
  abort(): void;
}

/** Options of {@linkcode Manager}. */
export interface ManagerOptions {
  /** Clients running at once (`--max-running`). */
  maxRunning: number;
  /** Clients allowed to wait; the next one is refused with `ERR busy`. Default: no limit. */
  queueLimit?: number;
  /** Milliseconds a handler may wait before `ERR timeout`; 0 (default) waits forever. */
  queueTimeoutMs?: number;
  /** Running + queued handlers per address (IPv6: per /64); 0 (default) is no limit. */
  maxPerIp?: number;
  /** Counters to update; the Manager owns accepted/rejected/served/timeouts. */
  stats: Stats;
  /** Where admission events are logged. */
  logger: Logger;
}

/** What {@linkcode Manager.admit} did with a handler. */
export type Admission = "running" | "queued" | "rejected";

/** A handler as WHO lists it. */
export interface HandlerEntry<H> {
  handler: H;
  state: "running" | "queued";
}

/** FIFO admission queue plus a capped running set. */
export class Manager<H extends ManagedHandler = ManagedHandler> {
  readonly maxRunning: number;
  #queueLimit: number;
  readonly queueTimeoutMs: number;
  readonly maxPerIp: number;
  readonly #stats: Stats;
  readonly #logger: Logger;
  readonly #running = new Set<H>();
  readonly #queue = new Set<H>();
  readonly #queueTimers = new Map<H, ReturnType<typeof setTimeout>>();
  /** Running + queued handlers by {@linkcode perAddressKey}; kept only when maxPerIp is set. */
  readonly #perAddress = new Map<string, number>();
  #stopping = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ManagerOptions) {
    if (!Number.isSafeInteger(options.maxRunning) || options.maxRunning < 1) {
      throw new RangeError(`maxRunning must be a positive integer: received ${options.maxRunning}`);
    }
    this.maxRunning = options.maxRunning;
    this.#queueLimit = options.queueLimit ?? Infinity;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 0;
    this.maxPerIp = options.maxPerIp ?? 0;
    this.#stats = options.stats;
    this.#logger = options.logger;
  }

  /** Handlers allowed to wait; the next one is refused with `ERR busy`. */
  get queueLimit(): number {
    return this.#queueLimit;
  }

  /** Lowers (or raises) the queue limit; handlers already waiting keep their place. */
  setQueueLimit(limit: number): void {
    this.#queueLimit = limit;
  }

  /** Handlers running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Handlers waiting now. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Running handlers first, then the queue in FIFO order. */
  *handlers(): Generator<HandlerEntry<H>> {
    for (const handler of this.#running) yield { handler, state: "running" };
    for (const handler of this.#queue) yield { handler, state: "queued" };
  }

  /**
   * Takes a new handler: starts it if a slot is free, queues it if the queue
   * has room, otherwise refuses it with `ERR busy` (docs/protocol.md#admission-the-queue-and-its-limits). The per-address
   * limit is checked first.
   */
  admit(handler: H): Admission {
    this.#stats.accepted_total++;
    if (this.#stopping) return this.#reject(handler, SHUTDOWN_REPLY, "shutting down");
    if (this.maxPerIp > 0 && this.#fromAddress(handler) >= this.maxPerIp) {
      return this.#reject(handler, PER_ADDRESS_REPLY, `max ${this.maxPerIp} per address`);
    }
    if (this.#running.size < this.maxRunning) {
      this.#count(handler, 1);
      this.#start(handler);
      return "running";
    }
    if (this.#queue.size >= this.#queueLimit) {
      const reply = err(
        "busy",
        `server full (${this.#running.size} running, ${this.#queue.size} queued)`,
      );
      return this.#reject(handler, reply, "queue full");
    }
    this.#count(handler, 1);
    this.#queue.add(handler);
    if (this.queueTimeoutMs > 0) {
      this.#queueTimers.set(handler, setTimeout(() => this.#timeOut(handler), this.queueTimeoutMs));
    }
    handler.enqueued(() => this.#leave(handler));
    return "queued";
  }

  /**
   * Stops admitting: queued handlers are refused with `ERR shutdown`, running
   * ones are asked to finish the request in hand. Resolve
   * {@linkcode whenIdle} to know when they are done.
   */
  shutdown(): void {
    this.#stopping = true;
    for (const handler of [...this.#queue]) {
      this.#dequeue(handler);
      handler.refuse(SHUTDOWN_REPLY);
    }
    for (const handler of this.#running) handler.shutdown();
  }

  /** Closes every running handler at once (the drain timeout passed). */
  abortAll(): void {
    for (const handler of this.#running) handler.abort();
  }

  /** Resolves when nothing runs and nothing waits. */
  whenIdle(): Promise<void> {
    if (this.#running.size === 0 && this.#queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #start(handler: H): void {
    this.#running.add(handler);
    let done: Promise<void>;
    try {
      done = handler.run();
    } catch (error) {
      done = Promise.reject(error);
    }
    done.then(
      () => this.#finish(handler),
      (error) => {
        this.#logger.warn("client handler failed", { error: String(error) });
        this.#finish(handler);
      },
    );
  }

  #finish(handler: H): void {
    if (!this.#running.delete(handler)) return;
    this.#count(handler, -1);
    this.#stats.served_total++;
    this.#fill();
  }

  /** Starts queued handlers while slots are free: this is what makes a freed slot reach the next handler at once. */
  #fill(): void {
    while (this.#running.size < this.maxRunning && !this.#stopping) {
      const next = this.#queue.values().next();
      if (next.done) break;
      this.#dequeue(next.value);
      this.#count(next.value, 1);
      this.#start(next.value);
    }
    this.#notifyIfIdle();
  }

  #leave(handler: H): void {
    if (this.#dequeue(handler)) this.#notifyIfIdle();
  }

  #timeOut(handler: H): void {
    if (!this.#dequeue(handler)) return;
    this.#stats.timeouts_total++;
    const seconds = this.queueTimeoutMs / 1000;
    this.#logger.info("queue timeout", { address: handler.address, waited_s: seconds });
    handler.refuse(err("timeout", `waited ${seconds} s for a free slot`));
    this.#notifyIfIdle();
  }

  /** Removes a waiting handler; false if it was not waiting. */
  #dequeue(handler: H): boolean {
    if (!this.#queue.delete(handler)) return false;
    const timer = this.#queueTimers.get(handler);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#queueTimers.delete(handler);
    }
    this.#count(handler, -1);
    return true;
  }

  /** Running + queued handlers from the address (IPv6: the /64) of `handler`. */
  #fromAddress(handler: H): number {
    return this.#perAddress.get(perAddressKey(handler.address)) ?? 0;
  }

  /**
   * Counts `handler` in (+1) or out (-1) of its address's total. IPv6
   * addresses count per /64 (docs/server.md#server-options): one host is commonly handed a whole
   * /64 and could otherwise open maxPerIp connections from each address in it.
   */
  #count(handler: H, change: 1 | -1): void {
    if (this.maxPerIp === 0) return;
    const key = perAddressKey(handler.address);
    const count = (this.#perAddress.get(key) ?? 0) + change;
    if (count > 0) this.#perAddress.set(key, count);
    else this.#perAddress.delete(key);
  }

  #reject(handler: H, reply: LineReply, reason: string): Admission {
    this.#stats.rejected_total++;
    this.#logger.info("connection refused", { address: handler.address, reason });
    handler.refuse(reply);
    return "rejected";
  }

  #notifyIfIdle(): void {
    if (this.#running.size > 0 || this.#queue.size > 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** The line every connection gets when the server stops (docs/protocol.md#shutdown). */
export const SHUTDOWN_REPLY: LineReply = err("shutdown", "server is shutting down");
const PER_ADDRESS_REPLY: LineReply = err("busy", "too many connections from your address");
