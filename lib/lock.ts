/**
 * Locks. JavaScript runs one event-loop thread, so plain synchronous code
 * never interleaves; what can interleave is *asynchronous* work — two tasks
 * that each `await` in the middle of a multi-step update (or a multi-part
 * write to stderr). {@linkcode Mutex} serialises such critical sections.
 * It is FIFO, so a task that waits is never overtaken; {@linkcode Semaphore}
 * is the same for sections that may run a few at a time.
 *
 * The Manager's queue and running set need no lock: every change to them is
 * one synchronous step, finished before any other task runs.
 */

/** An async mutual-exclusion lock with FIFO hand-off. */
export class Mutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  /** True while some task holds the lock. */
  get locked(): boolean {
    return this.#locked;
  }

  /** Waits for the lock; returns the function that releases it. */
  async acquire(): Promise<() => void> {
    if (this.#locked) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#locked = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      // Hand the lock straight to the next waiter: it stays locked, so no
      // newcomer can slip in between.
      if (next) next();
      else this.#locked = false;
    };
  }

  /** Runs `fn` while holding the lock. */
  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * An async counting semaphore: at most `permits` holders at once, the rest
 * wait in FIFO order. It bounds work whose cost grows with how much runs at
 * once (password hashing: memory and CPU per hash).
 */
export class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];

  /** Allows `permits` (a positive integer) holders at once. */
  constructor(permits: number) {
    if (!Number.isSafeInteger(permits) || permits < 1) {
      throw new RangeError(`a semaphore needs a positive integer of permits: received ${permits}`);
    }
    this.#free = permits;
  }

  /** Tasks waiting for a permit. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Runs `fn` while holding a permit. */
  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    // Not through acquire(): that would start `fn` a few microtasks later.
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiters.push(resolve));
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  /** Waits for a permit; the function returned gives it back (once, however often it is called). */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiters.push(resolve));
    let held = true;
    return () => {
      if (held) this.#release();
      held = false;
    };
  }

  #release(): void {
    // Hand the permit straight to the next waiter, as Mutex does.
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

/**
 * The print lock: every line written to stderr by the server (logs, the
 * startup banner, fatal errors) goes through this one lock, so lines never
 * interleave even when a write to a slow pipe is split into several.
 */
export const printLock = new Mutex();

/** Lock word states (the classic three-state futex mutex, Drepper's "Futexes Are Tricky"). */
const UNLOCKED = 0;
const LOCKED = 1;
/** Locked, and somebody may be sleeping on it: unlock must wake one. */
const CONTENDED = 2;

/**
 * A mutex shared between threads (Web Workers and the main thread) through
 * one Int32 in a SharedArrayBuffer. JavaScript threads share memory only
 * through such buffers, and a read-modify-write on them (`a[i] = a[i] + 1`)
 * is a read and a separate write: two threads can read the same value and
 * one increment is lost. This lock makes such a section exclusive.
 *
 * Why this design: compare-exchange takes a free lock without any syscall;
 * a thread that finds it taken marks it CONTENDED and sleeps in
 * `Atomics.wait` (workers) or `Atomics.waitAsync` (the main thread, which must
 * never block) until unlock notifies it. Nobody spins burning a core, and an
 * uncontended unlock skips the notify.
 */
export class AtomicMutex {
  readonly #cells: Int32Array;
  readonly #index: number;

  /** Uses `cells[index]` as the lock word; it must start at 0 and be shared by every user. */
  constructor(cells: Int32Array, index = 0) {
    if (!(cells.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError("AtomicMutex needs an Int32Array over a SharedArrayBuffer");
    }
    this.#cells = cells;
    this.#index = index;
  }

  /** Blocks until the lock is held. Only for workers: the main thread may not block. */
  lock(): void {
    if (this.#tryLock()) return;
    // Mark it CONTENDED whenever we find it taken, so the holder's unlock wakes us.
    while (Atomics.exchange(this.#cells, this.#index, CONTENDED) !== UNLOCKED) {
      Atomics.wait(this.#cells, this.#index, CONTENDED);
    }
  }

  /** Waits without blocking the event loop until the lock is held (main thread). */
  async lockAsync(): Promise<void> {
    if (this.#tryLock()) return;
    while (Atomics.exchange(this.#cells, this.#index, CONTENDED) !== UNLOCKED) {
      const wait = Atomics.waitAsync(this.#cells, this.#index, CONTENDED);
      if (!wait.async) continue;
      // Deno does not count a pending waitAsync as work: without a timer the
      // event loop could end under a sleeping waiter.
      const keepAlive = setTimeout(() => {}, 2 ** 31 - 1);
      try {
        await wait.value;
      } finally {
        clearTimeout(keepAlive);
      }
    }
  }

  /** The uncontended fast path: no syscall, no waiting. */
  #tryLock(): boolean {
    return Atomics.compareExchange(this.#cells, this.#index, UNLOCKED, LOCKED) === UNLOCKED;
  }

  /** Releases the lock, waking one sleeper if there may be any. */
  unlock(): void {
    if (Atomics.sub(this.#cells, this.#index, 1) !== LOCKED) {
      Atomics.store(this.#cells, this.#index, UNLOCKED);
      Atomics.notify(this.#cells, this.#index, 1);
    }
  }
}
