/**
 * The line for AUTH's password hashing (docs/security.md#running-it-on-a-network): at
 * most `slots` verifications at once, and the next slot goes to the waiting
 * AUTH whose address has the fewest recent failures, first come first
 * served among equals.
 *
 * Why not first come first served: guesses spread over many source
 * addresses stay under each address's limit, and in one line they sit ahead
 * of everyone. Measured with `deno task bench --only AUTH --quick` (a
 * guesser on each of 127.0.0.2–127.0.0.60, one hashing slot, 2 shared
 * cores): in line by arrival a legitimate AUTH from 127.0.0.1 waited up to
 * 4,447 ms; in this line at most 132 ms (p50 113 ms, 43 ms alone). A guesser's
 * address has failures after its first guess, so from then on a client
 * that has not failed is served next, after at most the hashes running.
 * Priority is read when a slot frees, not when an AUTH joins: a guess that
 * queued early still falls behind once its address starts failing.
 */

/** One AUTH waiting for a slot. */
interface Waiter {
  address: string;
  start: () => void;
}

/** A bounded set of hashing slots with a failures-first-last line. */
export class HashQueue {
  #free: number;
  readonly #waiting: Waiter[] = [];
  readonly #failures: (address: string) => number;

  /**
   * `slots`: verifications at once (a positive integer); `failures`: an
   * address's recent failed AUTHs, asked each time a slot frees.
   */
  constructor(slots: number, failures: (address: string) => number) {
    if (!Number.isSafeInteger(slots) || slots < 1) {
      throw new RangeError(`hash slots must be a positive integer: received ${slots}`);
    }
    this.#free = slots;
    this.#failures = failures;
  }

  /** AUTHs waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `verify` for a client at `address` once a slot is its turn. */
  async run<T>(address: string, verify: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((start) => this.#waiting.push({ address, start }));
    try {
      return await verify();
    } finally {
      const next = this.#takeNext();
      if (next) next.start();
      else this.#free++;
    }
  }

  /** Removes and returns the waiter whose address has the fewest failures (the earliest among equals). */
  #takeNext(): Waiter | undefined {
    if (this.#waiting.length === 0) return undefined;
    let best = 0;
    let bestFailures = Infinity;
    // One look-up per address: a spray puts many AUTHs from few addresses in line.
    const seen = new Map<string, number>();
    for (const [index, waiter] of this.#waiting.entries()) {
      let failures = seen.get(waiter.address);
      if (failures === undefined) {
        failures = this.#failures(waiter.address);
        seen.set(waiter.address, failures);
      }
      if (failures < bestFailures) {
        best = index;
        bestFailures = failures;
        if (failures === 0) break;
      }
    }
    return this.#waiting.splice(best, 1)[0];
  }
}
