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
 * So it owns the queue itself.
 *
 * One Manager however many network threads (`--threads`,
 * docs/protocol.md#one-manager-however-many-threads): each thread has a
 * Manager object for its own handlers, and the decisions — the running
 * count, the FIFO order across threads, the per-address counts — are made
 * in shared memory (shared_admission.ts says how). A slot that frees on
 * this thread goes to the oldest waiter of any thread; if that one is here
 * it starts in the same tick, otherwise its thread is woken through
 * `Atomics.waitAsync`. No message crosses threads to admit anyone.
 *
 * Within a thread no lock guards the local sets: every change is a
 * synchronous step on its event loop, finished before any other task runs.
 */
import { err, type LineReply } from "../../protocol/mod.ts";
import type { Logger } from "../log.ts";
import { SharedAdmission } from "./shared_admission.ts";
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
  /** Clients running at once (`--max-running`); ignored when `shared` is given. */
  maxRunning: number;
  /** Clients allowed to wait; the next one is refused with `ERR busy`. Default: no limit. */
  queueLimit?: number;
  /** Milliseconds a handler may wait before `ERR timeout`; 0 (default) waits forever. */
  queueTimeoutMs?: number;
  /** Running + queued handlers per address (IPv6: per /64); 0 (default) is no limit. */
  maxPerIp?: number;
  /**
   * The server-wide state this Manager shares with the other network
   * threads' Managers, and this thread's number in it. Default: state of
   * its own, for one thread.
   */
  shared?: { admission: SharedAdmission; thread: number };
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

/** A handler of this thread waiting for a slot: its node in the shared queue, its timeout. */
interface Waiting<H> {
  handler: H;
  node: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** FIFO admission queue plus a capped running set, server-wide; this thread's handlers. */
export class Manager<H extends ManagedHandler = ManagedHandler> {
  readonly queueTimeoutMs: number;
  readonly #shared: SharedAdmission;
  readonly #thread: number;
  readonly #stats: Stats;
  readonly #logger: Logger;
  readonly #running = new Set<H>();
  /** This thread's waiting handlers by key, in FIFO order (a Map keeps insertion order). */
  readonly #queue = new Map<number, Waiting<H>>();
  #nextKey = 1;
  #stopping = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ManagerOptions) {
    if (!Number.isSafeInteger(options.maxRunning) || options.maxRunning < 1) {
      throw new RangeError(`maxRunning must be a positive integer: received ${options.maxRunning}`);
    }
    this.queueTimeoutMs = options.queueTimeoutMs ?? 0;
    this.#shared = options.shared?.admission ?? SharedAdmission.create({
      maxRunning: options.maxRunning,
      queueLimit: Math.min(options.queueLimit ?? 2 ** 31 - 1, 2 ** 31 - 1),
      maxPerIp: options.maxPerIp ?? 0,
      threads: 1,
    });
    this.#thread = options.shared?.thread ?? 0;
    this.#stats = options.stats;
    this.#logger = options.logger;
    this.#watchGrants();
  }

  /** `--max-running`. */
  get maxRunning(): number {
    return this.#shared.maxRunning;
  }

  /** `--max-per-ip` (0 = none). */
  get maxPerIp(): number {
    return this.#shared.maxPerIp;
  }

  /** Handlers allowed to wait, server-wide; the next one is refused with `ERR busy`. */
  get queueLimit(): number {
    return this.#shared.queueLimit;
  }

  /** Handlers running now, server-wide. */
  get running(): number {
    return this.#shared.running;
  }

  /** Handlers waiting now, server-wide. */
  get queued(): number {
    return this.#shared.queued;
  }

  /** A new connection id: unique and increasing in accept order across threads. */
  nextId(): number {
    return this.#shared.nextId();
  }

  /** This thread's running handlers first, then its queue in FIFO order. */
  *handlers(): Generator<HandlerEntry<H>> {
    for (const handler of this.#running) yield { handler, state: "running" };
    for (const { handler } of this.#queue.values()) yield { handler, state: "queued" };
  }

  /**
   * Takes a new handler: starts it if a slot is free and nobody waits,
   * queues it if the queue has room, otherwise refuses it with `ERR busy`
   * (docs/protocol.md#admission-the-queue-and-its-limits). The per-address
   * limit is checked first. Every limit is server-wide.
   */
  admit(handler: H): Admission {
    this.#stats.accepted_total++;
    const key = this.#nextKey++;
    const decision = this.#shared.admit(this.#thread, key, handler.address);
    if (decision.kind === "running") {
      this.#start(handler);
      return "running";
    }
    if (decision.kind === "refused") {
      if (decision.reason === "stopping") {
        return this.#reject(handler, SHUTDOWN_REPLY, "shutting down");
      }
      if (decision.reason === "per-address") {
        return this.#reject(handler, PER_ADDRESS_REPLY, `max ${this.maxPerIp} per address`);
      }
      const reply = err(
        "busy",
        `server full (${decision.running} running, ${decision.queued} queued)`,
      );
      return this.#reject(handler, reply, "queue full");
    }
    const waiting: Waiting<H> = { handler, node: decision.node, timer: undefined };
    this.#queue.set(key, waiting);
    if (this.queueTimeoutMs > 0) {
      waiting.timer = setTimeout(() => this.#timeOut(key), this.queueTimeoutMs);
    }
    handler.enqueued(() => this.#leave(key));
    return "queued";
  }

  /**
   * Stops admitting, on every thread: this thread's queued handlers are
   * refused with `ERR shutdown`, its running ones are asked to finish the
   * request in hand. Resolve {@linkcode whenIdle} to know when they are done.
   */
  shutdown(): void {
    this.#stopping = true;
    this.#shared.stop();
    for (const key of [...this.#queue.keys()]) {
      const waiting = this.#dequeue(key);
      waiting?.handler.refuse(SHUTDOWN_REPLY);
    }
    this.#takeGrants();
    for (const handler of this.#running) handler.shutdown();
  }

  /** Closes every running handler at once (the drain timeout passed). */
  abortAll(): void {
    for (const handler of this.#running) handler.abort();
  }

  /** Resolves when nothing runs and nothing waits on this thread. */
  whenIdle(): Promise<void> {
    if (this.#running.size === 0 && this.#queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops watching for grants (after the drain): the thread may then end. */
  close(): void {
    this.#closed = true;
    this.#shared.wake(this.#thread);
  }

  /**
   * Slots that other threads freed for this thread's waiters arrive as
   * grants: one `Atomics.waitAsync` on this thread's grant signal at a time.
   */
  async #watchGrants(): Promise<void> {
    while (!this.#closed) {
      const seen = this.#shared.grantSignal(this.#thread);
      this.#takeGrants();
      await this.#shared.waitForGrant(this.#thread, seen);
    }
  }

  /** Starts the handlers granted a slot (or, shutting down, refuses them and gives the slot back). */
  #takeGrants(): void {
    for (const key of this.#shared.takeGrants(this.#thread)) {
      const waiting = this.#queue.get(key);
      if (waiting === undefined) continue; // it left, and gave the grant on then (leave)
      this.#forget(key, waiting);
      if (this.#stopping) {
        waiting.handler.refuse(SHUTDOWN_REPLY);
        this.#startLocal(this.#shared.release(this.#thread, waiting.handler.address));
      } else this.#start(waiting.handler);
    }
    this.#notifyIfIdle();
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
    this.#stats.served_total++;
    // The slot goes to the oldest waiter of any thread; if that one is ours, it starts now.
    this.#startLocal(this.#shared.release(this.#thread, handler.address));
    this.#notifyIfIdle();
  }

  /** Starts this thread's waiter `key`, granted a slot in the same step that freed it. */
  #startLocal(key: number | undefined): void {
    if (key === undefined) return;
    const waiting = this.#queue.get(key);
    if (waiting === undefined) return;
    this.#forget(key, waiting);
    this.#start(waiting.handler);
  }

  #leave(key: number): void {
    if (this.#dequeue(key)) this.#notifyIfIdle();
  }

  #timeOut(key: number): void {
    const waiting = this.#dequeue(key);
    if (waiting === undefined) return;
    this.#stats.timeouts_total++;
    const seconds = this.queueTimeoutMs / 1000;
    this.#logger.info("queue timeout", { address: waiting.handler.address, waited_s: seconds });
    waiting.handler.refuse(err("timeout", `waited ${seconds} s for a free slot`));
    this.#notifyIfIdle();
  }

  /** Takes a waiting handler out of the queue, here and in shared memory; undefined if it was not waiting. */
  #dequeue(key: number): Waiting<H> | undefined {
    const waiting = this.#queue.get(key);
    if (waiting === undefined) return undefined;
    this.#forget(key, waiting);
    // If a slot was granted to it meanwhile, the slot goes on to the next waiter.
    this.#startLocal(this.#shared.leave(this.#thread, waiting.node, waiting.handler.address));
    return waiting;
  }

  /** Drops a waiter from this thread's queue (its shared node is handled by the caller). */
  #forget(key: number, waiting: Waiting<H>): void {
    this.#queue.delete(key);
    if (waiting.timer !== undefined) clearTimeout(waiting.timer);
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
