/**
 * The AUTH failure throttle (docs/security.md): after {@linkcode AUTH_THROTTLE}
 * `.maxFailures` failed AUTHs from one address within the window, AUTH from
 * that address is refused without checking until the oldest failure leaves
 * the window. It turns an online password guesser's thousands of tries a
 * minute into five.
 *
 * Addresses are counted by the same key as `--max-per-ip`
 * ({@linkcode perAddressKey}: IPv6 by its /64), because one IPv6 host
 * usually holds a whole /64 and could otherwise rotate through it.
 * A successful AUTH does not clear the failures: otherwise one valid
 * account would let its holder keep guessing the others.
 */
import { perAddressKey } from "./address.ts";

/** Defaults of {@linkcode AuthThrottle}. */
export const AUTH_THROTTLE = {
  /** Failures that close the door. */
  maxFailures: 5,
  /** How long a failure counts. */
  windowMs: 60_000,
  /**
   * Addresses remembered at once. A spray from many addresses would
   * otherwise grow the table without bound; past the cap the address whose
   * last failure is oldest is forgotten (at ~100 bytes an entry, 10,000
   * cost about 1 MiB).
   */
  maxAddresses: 10_000,
} as const;

/** Options of {@linkcode AuthThrottle}; each defaults to {@linkcode AUTH_THROTTLE}. */
export interface AuthThrottleOptions {
  maxFailures?: number;
  windowMs?: number;
  maxAddresses?: number;
  /** The clock in ms; default `Date.now` (tests pass their own). */
  now?: () => number;
}

/** Counts failed AUTHs per address over a sliding window. */
export class AuthThrottle {
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  /** Failure times (oldest first, at most maxFailures) by address key; Map order is least recent first. */
  readonly #failures = new Map<string, number[]>();

  constructor(options: AuthThrottleOptions = {}) {
    this.#maxFailures = options.maxFailures ?? AUTH_THROTTLE.maxFailures;
    this.#windowMs = options.windowMs ?? AUTH_THROTTLE.windowMs;
    this.#maxAddresses = options.maxAddresses ?? AUTH_THROTTLE.maxAddresses;
    this.#now = options.now ?? Date.now;
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.#failures.size;
  }

  /**
   * Whole seconds until `address` may try again (at least 1), or undefined
   * if it may AUTH now. Refused means: reply `denied` without checking.
   */
  retryAfterS(address: string): number | undefined {
    const key = perAddressKey(address);
    const times = this.#current(key);
    if (times === undefined || times.length < this.#maxFailures) return undefined;
    const oldest = times[0]!;
    return Math.max(1, Math.ceil((oldest + this.#windowMs - this.#now()) / 1000));
  }

  /** Records one failed AUTH from `address`. */
  recordFailure(address: string): void {
    const key = perAddressKey(address);
    const times = this.#current(key) ?? [];
    times.push(this.#now());
    if (times.length > this.#maxFailures) times.shift();
    // Delete and set again, so the Map's first entry is always the one to evict.
    this.#failures.delete(key);
    this.#failures.set(key, times);
    if (this.#failures.size > this.#maxAddresses) {
      this.#failures.delete(this.#failures.keys().next().value!);
    }
  }

  /** The failures of `key` still inside the window; forgets the key when none are. */
  #current(key: string): number[] | undefined {
    const times = this.#failures.get(key);
    if (times === undefined) return undefined;
    const since = this.#now() - this.#windowMs;
    while (times.length > 0 && times[0]! <= since) times.shift();
    if (times.length > 0) return times;
    this.#failures.delete(key);
    return undefined;
  }
}
