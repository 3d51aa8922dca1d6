/**
 * Locks. JavaScript runs one event-loop thread, so plain synchronous code
 * never interleaves; what can interleave is *asynchronous* work — two tasks
 * that each `await` in the middle of a multi-step update (or a multi-part
 * write to stderr). {@linkcode Mutex} serialises such critical sections.
 * It is FIFO, so a task that waits is never overtaken.
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
 * The print lock: every line written to stderr by the server (logs, the
 * startup banner, fatal errors) goes through this one lock, so lines never
 * interleave even when a write to a slow pipe is split into several.
 */
export const printLock = new Mutex();
