/**
 * The Manager (SPEC §3): admission of client handlers. At most `maxRunning`
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
import { err, type LineReply } from "./protocol.ts";
import type { Logger } from "./log.ts";
import type { Stats } from "./stats.ts";

/** What the Manager needs from a client; ClientHandler implements it, tests use fakes. */
export interface ManagedClient {
  /** Remote address (without port), for `maxPerIp`. */
  readonly address: string;
  /** Called once when the client is put in the queue; it calls `leave` if it hangs up there. */
  enqueued(leave: () => void): void;
  /** Runs the client to completion; its slot frees when the promise settles. */
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
  /** Clients running at once (SPEC `--max-running`). */
  maxRunning: number;
  /** Clients allowed to wait; the next one is refused with `ERR busy`. Default: no limit. */
  queueLimit?: number;
  /** Milliseconds a client may wait before `ERR timeout`; 0 (default) waits forever. */
  queueTimeoutMs?: number;
  /** Running + queued clients per address; 0 (default) is no limit. */
  maxPerIp?: number;
  /** Counters to update; the Manager owns accepted/rejected/served/timeouts. */
  stats: Stats;
  /** Where admission events are logged. */
  logger: Logger;
}

/** What {@linkcode Manager.admit} did with a client. */
export type Admission = "running" | "queued" | "rejected";

/** A client as WHO lists it. */
export interface ClientEntry<C> {
  client: C;
  state: "running" | "queued";
}

/** FIFO admission queue plus a capped running set. */
export class Manager<C extends ManagedClient = ManagedClient> {
  readonly maxRunning: number;
  readonly queueLimit: number;
  readonly queueTimeoutMs: number;
  readonly maxPerIp: number;
  readonly #stats: Stats;
  readonly #logger: Logger;
  readonly #running = new Set<C>();
  readonly #queue = new Set<C>();
  readonly #queueTimers = new Map<C, ReturnType<typeof setTimeout>>();
  readonly #perAddress = new Map<string, number>();
  #stopping = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ManagerOptions) {
    if (!Number.isSafeInteger(options.maxRunning) || options.maxRunning < 1) {
      throw new RangeError(`maxRunning must be a positive integer: received ${options.maxRunning}`);
    }
    this.maxRunning = options.maxRunning;
    this.queueLimit = options.queueLimit ?? Infinity;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 0;
    this.maxPerIp = options.maxPerIp ?? 0;
    this.#stats = options.stats;
    this.#logger = options.logger;
  }

  /** Handlers running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Handlers waiting now. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Running clients first, then the queue in FIFO order. */
  *clients(): Generator<ClientEntry<C>> {
    for (const client of this.#running) yield { client, state: "running" };
    for (const client of this.#queue) yield { client, state: "queued" };
  }

  /**
   * Takes a new client: starts it if a slot is free, queues it if the queue
   * has room, otherwise refuses it with `ERR busy` (SPEC §3). The per-address
   * limit is checked first.
   */
  admit(client: C): Admission {
    this.#stats.accepted_total++;
    if (this.#stopping) return this.#reject(client, SHUTDOWN_REPLY, "shutting down");
    const fromAddress = this.#perAddress.get(client.address) ?? 0;
    if (this.maxPerIp > 0 && fromAddress >= this.maxPerIp) {
      return this.#reject(client, PER_ADDRESS_REPLY, `max ${this.maxPerIp} per address`);
    }
    if (this.#running.size < this.maxRunning) {
      this.#perAddress.set(client.address, fromAddress + 1);
      this.#start(client);
      return "running";
    }
    if (this.#queue.size >= this.queueLimit) {
      const reply = err(
        "busy",
        `server full (${this.#running.size} running, ${this.#queue.size} queued)`,
      );
      return this.#reject(client, reply, "queue full");
    }
    this.#perAddress.set(client.address, fromAddress + 1);
    this.#queue.add(client);
    if (this.queueTimeoutMs > 0) {
      this.#queueTimers.set(client, setTimeout(() => this.#timeOut(client), this.queueTimeoutMs));
    }
    client.enqueued(() => this.#leave(client));
    return "queued";
  }

  /**
   * Stops admitting: queued clients are refused with `ERR shutdown`, running
   * ones are asked to finish the request in hand. Resolve
   * {@linkcode whenIdle} to know when they are done.
   */
  shutdown(): void {
    this.#stopping = true;
    for (const client of [...this.#queue]) {
      this.#dequeue(client);
      client.refuse(SHUTDOWN_REPLY);
    }
    for (const client of this.#running) client.shutdown();
  }

  /** Closes every running client at once (the drain timeout passed). */
  abortAll(): void {
    for (const client of this.#running) client.abort();
  }

  /** Resolves when nothing runs and nothing waits. */
  whenIdle(): Promise<void> {
    if (this.#running.size === 0 && this.#queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #start(client: C): void {
    this.#running.add(client);
    let done: Promise<void>;
    try {
      done = client.run();
    } catch (error) {
      done = Promise.reject(error);
    }
    done.then(
      () => this.#finish(client),
      (error) => {
        this.#logger.warn("client handler failed", { error: String(error) });
        this.#finish(client);
      },
    );
  }

  #finish(client: C): void {
    if (!this.#running.delete(client)) return;
    this.#release(client.address);
    this.#stats.served_total++;
    this.#fill();
  }

  /** Starts queued clients while slots are free: this is what makes a freed slot reach the next client at once. */
  #fill(): void {
    while (this.#running.size < this.maxRunning && !this.#stopping) {
      const next = this.#queue.values().next();
      if (next.done) break;
      this.#dequeue(next.value);
      this.#perAddress.set(next.value.address, (this.#perAddress.get(next.value.address) ?? 0) + 1);
      this.#start(next.value);
    }
    this.#notifyIfIdle();
  }

  #leave(client: C): void {
    if (this.#dequeue(client)) this.#notifyIfIdle();
  }

  #timeOut(client: C): void {
    if (!this.#dequeue(client)) return;
    this.#stats.timeouts_total++;
    const seconds = this.queueTimeoutMs / 1000;
    this.#logger.info("queue timeout", { address: client.address, waited_s: seconds });
    client.refuse(err("timeout", `waited ${seconds} s for a free slot`));
    this.#notifyIfIdle();
  }

  /** Removes a waiting client; false if it was not waiting. */
  #dequeue(client: C): boolean {
    if (!this.#queue.delete(client)) return false;
    const timer = this.#queueTimers.get(client);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#queueTimers.delete(client);
    }
    this.#release(client.address);
    return true;
  }

  #release(address: string): void {
    const count = (this.#perAddress.get(address) ?? 1) - 1;
    if (count > 0) this.#perAddress.set(address, count);
    else this.#perAddress.delete(address);
  }

  #reject(client: C, reply: LineReply, reason: string): Admission {
    this.#stats.rejected_total++;
    this.#logger.info("connection refused", { address: client.address, reason });
    client.refuse(reply);
    return "rejected";
  }

  #notifyIfIdle(): void {
    if (this.#running.size > 0 || this.#queue.size > 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** The line every client gets when the server stops (SPEC §6). */
export const SHUTDOWN_REPLY: LineReply = err("shutdown", "server is shutting down");
const PER_ADDRESS_REPLY: LineReply = err("busy", "too many connections from your address");
