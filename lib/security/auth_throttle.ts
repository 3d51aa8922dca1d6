/**
 * The AUTH failure throttle (docs/security.md#running-it-on-a-network): failed AUTHs are
 * counted per (address, name). After {@linkcode AUTH_THROTTLE}`.maxNameFailures`
 * failures for one name from one address within the window, AUTH for that
 * name from that address is refused without checking; after
 * `.maxAddressFailures` failures for any names from one address, every AUTH
 * from it is. It turns an online guesser's thousands of tries a minute into
 * a few, while one user's typos do not lock out the others behind the same
 * address (a NAT, a load balancer): counting per address alone, 5 failures
 * for bob from 127.0.0.1 refused ada's right password from there.
 *
 * Addresses are counted by the same key as `--max-per-ip`
 * ({@linkcode perAddressKey}: IPv6 by its /64), because one IPv6 host
 * usually holds a whole /64 and could otherwise rotate through it.
 * A successful AUTH does not clear the failures: otherwise one valid
 * account would let its holder keep guessing the others.
 */
import { perAddressKey } from "./address.ts";
import { USER_NAME } from "./users_file.ts";

/** Defaults of {@linkcode AuthThrottle}. */
export const AUTH_THROTTLE = {
  /** Failures for one name from one address that close the door to that name. */
  maxNameFailures: 5,
  /** Failures for any names from one address that close the door to every name. */
  maxAddressFailures: 20,
  /** How long a failure counts. */
  windowMs: 60_000,
  /**
   * Addresses remembered at once. A spray from many addresses would
   * otherwise grow the table without bound; past the cap the address whose
   * last failure is oldest is forgotten. An entry keeps at most
   * `maxAddressFailures` failures with names of at most 64 characters, about
   * 2 KiB; and every failure cost a hash, so the hashing rate (tens a second)
   * bounds how many entries a minute's window can hold long before the cap.
   */
  maxAddresses: 10_000,
} as const;

/** Options of {@linkcode AuthThrottle}; each defaults to {@linkcode AUTH_THROTTLE}. */
export interface AuthThrottleOptions {
  maxNameFailures?: number;
  maxAddressFailures?: number;
  windowMs?: number;
  maxAddresses?: number;
  /** The clock in ms; default `Date.now` (tests pass their own). */
  now?: () => number;
}

/** One failed AUTH: when, and for which name ({@linkcode throttleName}). */
interface Failure {
  at: number;
  name: string;
}

/**
 * A name that is not a possible user name (too long, odd characters) is
 * counted under this one key: it can never succeed, and storing a client's
 * 60 KB "name" per failure would let a guesser grow the table.
 */
const NOT_A_USER_NAME = "";

/** Counts failed AUTHs per address and per (address, name) over a sliding window. */
export class AuthThrottle {
  readonly #maxNameFailures: number;
  readonly #maxAddressFailures: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  /** Failures (oldest first, at most maxAddressFailures) by address key; Map order is least recent first. */
  readonly #failures = new Map<string, Failure[]>();

  constructor(options: AuthThrottleOptions = {}) {
    this.#maxNameFailures = options.maxNameFailures ?? AUTH_THROTTLE.maxNameFailures;
    this.#maxAddressFailures = options.maxAddressFailures ?? AUTH_THROTTLE.maxAddressFailures;
    this.#windowMs = options.windowMs ?? AUTH_THROTTLE.windowMs;
    this.#maxAddresses = options.maxAddresses ?? AUTH_THROTTLE.maxAddresses;
    this.#now = options.now ?? Date.now;
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.#failures.size;
  }

  /** Failures from `address` (any names) still inside the window. */
  failures(address: string): number {
    return this.#current(perAddressKey(address))?.length ?? 0;
  }

  /**
   * Whole seconds until `name` from `address` may try again (at least 1), or
   * undefined if it may AUTH now. Refused means: reply `denied` without checking.
   */
  retryAfterS(address: string, name: string): number | undefined {
    const failures = this.#current(perAddressKey(address));
    if (failures === undefined) return undefined;
    if (failures.length >= this.#maxAddressFailures) {
      // The whole address is closed until its oldest failure leaves the window.
      return this.#secondsUntilExpiry(failures[failures.length - this.#maxAddressFailures]!);
    }
    const key = throttleName(name);
    const forName = failures.filter((failure) => failure.name === key);
    if (forName.length < this.#maxNameFailures) return undefined;
    return this.#secondsUntilExpiry(forName[forName.length - this.#maxNameFailures]!);
  }

  /** Records one failed AUTH for `name` from `address`. */
  recordFailure(address: string, name: string): void {
    const key = perAddressKey(address);
    const failures = this.#current(key) ?? [];
    failures.push({ at: this.#now(), name: throttleName(name) });
    if (failures.length > this.#maxAddressFailures) failures.shift();
    // Delete and set again, so the Map's first entry is always the one to evict.
    this.#failures.delete(key);
    this.#failures.set(key, failures);
    if (this.#failures.size > this.#maxAddresses) {
      this.#failures.delete(this.#failures.keys().next().value!);
    }
  }

  #secondsUntilExpiry(failure: Failure): number {
    return Math.max(1, Math.ceil((failure.at + this.#windowMs - this.#now()) / 1000));
  }

  /** The failures of `key` still inside the window; forgets the key when none are. */
  #current(key: string): Failure[] | undefined {
    const failures = this.#failures.get(key);
    if (failures === undefined) return undefined;
    const since = this.#now() - this.#windowMs;
    while (failures.length > 0 && failures[0]!.at <= since) failures.shift();
    if (failures.length > 0) return failures;
    this.#failures.delete(key);
    return undefined;
  }
}

/**
 * The name a failure is counted under: a possible user name, copied so that
 * it does not keep the whole request line alive (V8 slices share their
 * parent string), or {@linkcode NOT_A_USER_NAME}.
 */
function throttleName(name: string): string {
  return USER_NAME.test(name) ? [...name].join("") : NOT_A_USER_NAME;
}
