/**
 * The Manager's state in shared memory: what every network thread must
 * agree on to admit clients as one server (docs/protocol.md#one-manager-however-many-threads).
 * This module owns the layout of one SharedArrayBuffer; nothing else reads
 * or writes it, and no `Atomics` call lives outside it.
 *
 * What is shared, and why this shape:
 *
 * - **Connection ids**: one 64-bit counter, taken with `Atomics.add` when a
 *   connection is accepted: unique, and increasing in accept order across
 *   threads, without a lock.
 * - **The running count, the queue and the per-address counts** change
 *   together (a slot that frees goes to the oldest waiter of any thread), so
 *   one lock guards them: the three-state futex mutex of lib/lock.ts, held
 *   for a few hundred nanoseconds of plain reads and writes, and taken once
 *   when a connection arrives and once when it leaves — never per request.
 *   Network threads are Workers, which may block in `Atomics.wait` for that
 *   long.
 * - **The queue** is a doubly linked list of nodes in the buffer, one per
 *   waiting connection: {thread, key}, where key is the owning thread's own
 *   number for the connection (the handler itself cannot cross threads). A
 *   linked list because a waiter that hangs up or times out leaves from the
 *   middle, at once. Nodes are handed out from a free list, and the unused
 *   tail of the pool is never touched, so a large `--queue-limit` reserves
 *   address space, not memory.
 * - **A freed slot** goes to the head of the queue. If that connection is on
 *   the freeing thread, it starts at once, in the same tick; otherwise its
 *   node moves to the owner's list of grants (the slot stays counted as
 *   running) and the owner's grant signal is bumped and notified. Each
 *   thread waits on its own signal with `Atomics.waitAsync`, so the grant
 *   wakes exactly one event loop: no message round trip, no polling.
 * - **Per-address counts** (`--max-per-ip`) live in a hash table after the
 *   nodes, under the same lock (address_table.ts owns that region).
 *
 * Why N event-loop threads share this instead of a thread per client (the
 * lab's design): docs/architecture.md#threads.
 */
import { AtomicMutex } from "../../lock.ts";
import { AddressTable } from "./address_table.ts";

/** Bytes before the Int32 cells: the 64-bit id counter, alone in its cache line. */
const ID_BYTES = 64;

// Header cells (Int32 indices after ID_BYTES).
/** The lock word: taken by whichever thread admits, releases or dequeues; waited on by the others. */
const LOCK = 0;
/** Slots taken (handlers running plus grants not yet picked up); written under LOCK, read by STATS. */
const RUNNING = 1;
/** Connections waiting; written under LOCK, read by STATS. */
const QUEUED = 2;
/** `--queue-limit` after the descriptor budget; written at creation, read under LOCK. */
const QUEUE_LIMIT = 3;
/** 1 once shutdown began; written by the first thread to stop, read under LOCK. */
const STOPPING = 4;
/** First and last queued node (index + 1, 0 = none); under LOCK. */
const QUEUE_HEAD = 5;
const QUEUE_TAIL = 6;
/** First free node (index + 1, 0 = none); under LOCK. */
const FREE_HEAD = 7;
/** Nodes ever handed out: those past it were never touched; under LOCK. */
const NODES_USED = 8;
/** `--max-running`; written at creation. */
const MAX_RUNNING = 9;
/** `--max-per-ip`, 0 = off; written at creation. */
const MAX_PER_IP = 10;
/** Network threads; written at creation. */
const THREADS = 11;
/** Nodes in the pool; written at creation. */
const NODES = 12;
/** Slots of the per-address table (address_table.ts), 0 without --max-per-ip; written at creation. */
const IP_SLOTS = 13;
const HEADER_CELLS = 16;

// Per thread, 16 cells (a 64-byte cache line) each.
const THREAD_CELLS = 16;
/** The thread's granted nodes, oldest first (index + 1); written under LOCK by grantors, taken by the thread. */
const GRANTED_HEAD = 0;
const GRANTED_TAIL = 1;
/** Bumped (under LOCK) and notified by a grantor; the thread waits on it with Atomics.waitAsync. */
const GRANT_SIGNAL = 2;

// Per node.
const NODE_CELLS = 5;
const NEXT = 0;
const PREV = 1;
/** The thread that owns the connection, its key for it, and QUEUED_NODE or GRANTED_NODE. */
const OWNER = 2;
const KEY = 3;
const STATE = 4;
const QUEUED_NODE = 1;
const GRANTED_NODE = 2;

/** What {@linkcode SharedAdmission.admit} decided. */
export type AdmitDecision =
  | { kind: "running" }
  | { kind: "queued"; node: number }
  | {
    kind: "refused";
    reason: "stopping" | "per-address" | "full";
    running: number;
    queued: number;
  };

/** How the shared state is sized: the Manager's limits and the number of network threads. */
export interface AdmissionLimits {
  maxRunning: number;
  queueLimit: number;
  /** 0 = no per-address limit. */
  maxPerIp: number;
  threads: number;
}

/** The admission state of one server, over a SharedArrayBuffer every network thread holds. */
export class SharedAdmission {
  /** The buffer to hand to another thread ({@linkcode SharedAdmission.attach}). */
  readonly buffer: SharedArrayBuffer;
  readonly #ids: BigInt64Array;
  readonly #cells: Int32Array;
  readonly #lock: AtomicMutex;
  readonly #threadBase: number;
  readonly #nodeBase: number;
  /** The per-address counts, after the nodes; undefined without --max-per-ip. */
  readonly #addresses: AddressTable | undefined;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#ids = new BigInt64Array(buffer, 0, 1);
    this.#cells = new Int32Array(buffer, ID_BYTES);
    this.#lock = new AtomicMutex(this.#cells, LOCK);
    const c = this.#cells;
    this.#threadBase = HEADER_CELLS;
    this.#nodeBase = this.#threadBase + c[THREADS]! * THREAD_CELLS;
    const ipBase = this.#nodeBase + c[NODES]! * NODE_CELLS;
    this.#addresses = c[IP_SLOTS]! > 0
      ? new AddressTable(this.#cells, { base: ipBase, slots: c[IP_SLOTS]! })
      : undefined;
  }

  /** New state for a server with these limits (the hub makes it once, before any thread starts). */
  static create(limits: AdmissionLimits): SharedAdmission {
    const nodes = Math.min(limits.queueLimit + limits.maxRunning, 2 ** 28);
    const ipSlots = limits.maxPerIp > 0
      ? AddressTable.slotsFor(limits.maxRunning + limits.queueLimit)
      : 0;
    const cells = HEADER_CELLS + limits.threads * THREAD_CELLS + nodes * NODE_CELLS +
      AddressTable.cellsFor(ipSlots);
    const buffer = new SharedArrayBuffer(ID_BYTES + cells * Int32Array.BYTES_PER_ELEMENT);
    const header = new Int32Array(buffer, ID_BYTES, HEADER_CELLS);
    header[QUEUE_LIMIT] = Math.min(limits.queueLimit, 2 ** 31 - 1);
    header[MAX_RUNNING] = limits.maxRunning;
    header[MAX_PER_IP] = limits.maxPerIp;
    header[THREADS] = limits.threads;
    header[NODES] = nodes;
    header[IP_SLOTS] = ipSlots;
    const admission = new SharedAdmission(buffer);
    admission.#addresses?.seed();
    return admission;
  }

  /** The state another thread created, from its buffer. */
  static attach(buffer: SharedArrayBuffer): SharedAdmission {
    return new SharedAdmission(buffer);
  }

  /** The next connection id: unique, increasing in accept order across threads. */
  nextId(): number {
    return Number(Atomics.add(this.#ids, 0, 1n)) + 1;
  }

  /** Slots taken now, server-wide. */
  get running(): number {
    return Atomics.load(this.#cells, RUNNING);
  }

  /** Connections waiting now, server-wide. */
  get queued(): number {
    return Atomics.load(this.#cells, QUEUED);
  }

  /** `--max-running`. */
  get maxRunning(): number {
    return this.#cells[MAX_RUNNING]!;
  }

  /** `--max-per-ip` (0 = none). */
  get maxPerIp(): number {
    return this.#cells[MAX_PER_IP]!;
  }

  /** The queue limit in force. */
  get queueLimit(): number {
    return Atomics.load(this.#cells, QUEUE_LIMIT);
  }

  /** Stops admitting on every thread, and hands out no more grants. */
  stop(): void {
    this.#locked(() => this.#cells[STOPPING] = 1);
  }

  /**
   * Decides a new connection of `thread` (its own number for it: `key`)
   * from `address`: the per-address limit first, then a free slot (only if
   * nobody waits: no newcomer overtakes the queue), then the queue.
   */
  admit(thread: number, key: number, address: string): AdmitDecision {
    return this.#locked((): AdmitDecision => {
      const c = this.#cells;
      const refused = (reason: "stopping" | "per-address" | "full"): AdmitDecision => ({
        kind: "refused",
        reason,
        running: c[RUNNING]!,
        queued: c[QUEUED]!,
      });
      if (c[STOPPING] === 1) return refused("stopping");
      if (this.#addresses && !this.#addresses.count(address, c[MAX_PER_IP]!)) {
        return refused("per-address");
      }
      if (c[RUNNING]! < c[MAX_RUNNING]! && c[QUEUED] === 0) {
        c[RUNNING]!++;
        return { kind: "running" };
      }
      if (c[QUEUED]! >= c[QUEUE_LIMIT]!) {
        this.#addresses?.uncount(address);
        return refused("full");
      }
      const node = this.#allocate();
      this.#setNode(node, NEXT, 0);
      this.#setNode(node, OWNER, thread);
      this.#setNode(node, KEY, key);
      this.#setNode(node, STATE, QUEUED_NODE);
      this.#append(node, QUEUE_HEAD, QUEUE_TAIL);
      c[QUEUED]!++;
      return { kind: "queued", node };
    });
  }

  /**
   * A running connection of `thread` from `address` finished: its slot goes
   * to the oldest waiter of any thread. Returns that waiter's key when it is
   * on `thread` itself (start it now); otherwise its owner is signalled.
   */
  release(thread: number, address: string): number | undefined {
    return this.#locked(() => {
      this.#cells[RUNNING]!--;
      this.#addresses?.uncount(address);
      return this.#grantNext(thread);
    });
  }

  /**
   * A waiting connection leaves (hang-up, queue timeout, shutdown). If a
   * slot had already been granted to it, the slot goes on to the next
   * waiter; the key is returned when that one is on `thread`.
   */
  leave(thread: number, node: number, address: string): number | undefined {
    return this.#locked(() => {
      const state = this.#node(node, STATE);
      if (state === QUEUED_NODE) {
        this.#unlink(node, QUEUE_HEAD, QUEUE_TAIL);
        this.#cells[QUEUED]!--;
        this.#free(node);
        this.#addresses?.uncount(address);
        return undefined;
      }
      if (state !== GRANTED_NODE) return undefined;
      const base = this.#threadBase + this.#node(node, OWNER) * THREAD_CELLS;
      this.#unlink(node, base + GRANTED_HEAD, base + GRANTED_TAIL);
      this.#free(node);
      this.#cells[RUNNING]!--;
      this.#addresses?.uncount(address);
      return this.#grantNext(thread);
    });
  }

  /** The keys of `thread`'s connections granted a slot since it last asked, oldest first. */
  takeGrants(thread: number): number[] {
    return this.#locked(() => {
      const base = this.#threadBase + thread * THREAD_CELLS;
      const keys: number[] = [];
      for (let link = this.#cells[base + GRANTED_HEAD]!; link !== 0;) {
        const node = link - 1;
        link = this.#node(node, NEXT);
        keys.push(this.#node(node, KEY));
        this.#free(node);
      }
      this.#cells[base + GRANTED_HEAD] = 0;
      this.#cells[base + GRANTED_TAIL] = 0;
      return keys;
    });
  }

  /**
   * Resolves when `thread`'s grant signal moves past `seen` (or
   * {@linkcode wake} is called); read the signal first with {@linkcode grantSignal}.
   */
  async waitForGrant(thread: number, seen: number): Promise<void> {
    const index = this.#threadBase + thread * THREAD_CELLS + GRANT_SIGNAL;
    const wait = Atomics.waitAsync(this.#cells, index, seen);
    if (wait.async) await wait.value;
  }

  /** `thread`'s grant signal now. */
  grantSignal(thread: number): number {
    return Atomics.load(this.#cells, this.#threadBase + thread * THREAD_CELLS + GRANT_SIGNAL);
  }

  /** Ends a pending {@linkcode waitForGrant} of `thread` (it is closing). */
  wake(thread: number): void {
    const index = this.#threadBase + thread * THREAD_CELLS + GRANT_SIGNAL;
    Atomics.add(this.#cells, index, 1);
    Atomics.notify(this.#cells, index);
  }

  /** Under LOCK: gives a free slot to the head of the queue (see {@linkcode release}). */
  #grantNext(thread: number): number | undefined {
    const c = this.#cells;
    if (c[STOPPING] === 1 || c[QUEUED] === 0 || c[RUNNING]! >= c[MAX_RUNNING]!) return undefined;
    const node = c[QUEUE_HEAD]! - 1;
    this.#unlink(node, QUEUE_HEAD, QUEUE_TAIL);
    c[QUEUED]!--;
    c[RUNNING]!++;
    const owner = this.#node(node, OWNER);
    if (owner === thread) {
      const key = this.#node(node, KEY);
      this.#free(node);
      return key;
    }
    const base = this.#threadBase + owner * THREAD_CELLS;
    this.#setNode(node, STATE, GRANTED_NODE);
    this.#append(node, base + GRANTED_HEAD, base + GRANTED_TAIL);
    Atomics.add(c, base + GRANT_SIGNAL, 1);
    Atomics.notify(c, base + GRANT_SIGNAL);
    return undefined;
  }

  #locked<T>(section: () => T): T {
    this.#lock.lock();
    try {
      return section();
    } finally {
      this.#lock.unlock();
    }
  }

  #node(node: number, field: number): number {
    return this.#cells[this.#nodeBase + node * NODE_CELLS + field]!;
  }

  #setNode(node: number, field: number, value: number): void {
    this.#cells[this.#nodeBase + node * NODE_CELLS + field] = value;
  }

  /** A node off the free list, or one never used; the pool holds every queued and granted connection. */
  #allocate(): number {
    const c = this.#cells;
    const free = c[FREE_HEAD]!;
    if (free !== 0) {
      c[FREE_HEAD] = this.#node(free - 1, NEXT);
      return free - 1;
    }
    if (c[NODES_USED]! >= c[NODES]!) {
      throw new RangeError("the admission queue's node pool is exhausted");
    }
    return c[NODES_USED]!++;
  }

  #free(node: number): void {
    this.#setNode(node, STATE, 0);
    this.#setNode(node, NEXT, this.#cells[FREE_HEAD]!);
    this.#cells[FREE_HEAD] = node + 1;
  }

  /** Appends `node` to the list whose head and tail links are at cells `head` and `tail`. */
  #append(node: number, head: number, tail: number): void {
    const c = this.#cells;
    const last = c[tail]!;
    this.#setNode(node, PREV, last);
    this.#setNode(node, NEXT, 0);
    if (last === 0) c[head] = node + 1;
    else this.#setNode(last - 1, NEXT, node + 1);
    c[tail] = node + 1;
  }

  #unlink(node: number, head: number, tail: number): void {
    const c = this.#cells;
    const prev = this.#node(node, PREV);
    const next = this.#node(node, NEXT);
    if (prev === 0) c[head] = next;
    else this.#setNode(prev - 1, NEXT, next);
    if (next === 0) c[tail] = prev;
    else this.#setNode(next - 1, PREV, prev);
  }
}
