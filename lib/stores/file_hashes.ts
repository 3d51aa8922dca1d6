/**
 * The sha256 a GET announces (docs/protocol.md#commands FILE GET, docs/protocol.md#limits-and-bad-input). Three rules:
 *
 * - Computed by the function the store is given (the server's worker pool,
 *   lib/jobs/hash_job.ts), never on the thread that serves connections.
 * - Once per file version however many GETs ask at the same time: the
 *   first GET starts the computation and the others wait for the same
 *   promise (the in-flight map). A GET that stops waiting (its connection
 *   closed) leaves it running for the others, and for the cache.
 * - Remembered: an LRU cache by path and version, filled by PUTs (which
 *   hash as the bytes arrive) and by computations, evicting one entry at a
 *   time.
 */
import { LruCache } from "./lru_cache.ts";
import { type FileIdentity, identityKey } from "./file_identity.ts";

/**
 * Hashes remembered. An entry is about 0.8 KiB at worst (measured: a
 * 255-byte name under a root path, the identity and the hex digest as
 * JavaScript strings in a Map), so at most about 3.3 MiB; a file pushed out
 * costs one more read on a worker thread the next time it is fetched,
 * never a wrong answer. 4,096 files in active use is far beyond what one
 * --root serves concurrently, while the bound keeps a client that PUTs
 * millions of empty files from growing the server's memory (docs/protocol.md#limits-and-bad-input).
 */
export const HASH_CACHE_ENTRIES = 4096;

/**
 * Computes the sha256 of the file at `path` if it still is version
 * `identity`; undefined if the path holds another version now.
 */
export type ComputeHash = (path: string, identity: FileIdentity) => Promise<string | undefined>;

/**
 * What the file store asks of the hash cache: a {@linkcode FileHashes}, or,
 * on a network thread, the one the server's threads share (lib/server/remote_services.ts).
 */
export type HashCache = Pick<FileHashes, "remember" | "sha256">;

/** The sha256 of files by path and version: cached, and computed once per version in flight. */
export class FileHashes {
  readonly #compute: ComputeHash;
  readonly #cache: LruCache<string, string>;
  /** Computations running now, by the same key as the cache; an entry leaves when it settles. */
  readonly #inFlight = new Map<string, Promise<string | undefined>>();
  #computed = 0;

  constructor(compute: ComputeHash, options: { entries?: number } = {}) {
    this.#compute = compute;
    this.#cache = new LruCache(options.entries ?? HASH_CACHE_ENTRIES);
  }

  /**
   * Files hashed by the compute function so far (STATS `hashes_total`). A
   * GET answered from the cache, or waiting for another GET's computation,
   * adds nothing; nor does a computation that found the file changed.
   */
  get computedTotal(): number {
    return this.#computed;
  }

  /** Hashes cached now. */
  get cachedEntries(): number {
    return this.#cache.size;
  }

  /** Remembers the sha256 of a version whose bytes were hashed as they were written (PUT). */
  remember(path: string, identity: FileIdentity, sha256: string): void {
    this.#cache.set(cacheKey(path, identity), sha256);
  }

  /**
   * The sha256 of `path` as version `identity`: cached, from a computation
   * in flight, or from a new one. Undefined if the path no longer holds
   * that version (the caller opens it again). An abort of `signal` ends
   * this caller's wait only, with the signal's reason.
   */
  sha256(
    path: string,
    identity: FileIdentity,
    options: { signal?: AbortSignal } = {},
  ): Promise<string | undefined> {
    const key = cacheKey(path, identity);
    const cached = this.#cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const shared = this.#inFlight.get(key) ?? this.#start(key, path, identity);
    return options.signal ? untilAborted(shared, options.signal) : shared;
  }

  #start(key: string, path: string, identity: FileIdentity): Promise<string | undefined> {
    const computation = this.#compute(path, identity).then((sha256) => {
      if (sha256 !== undefined) {
        this.#computed++;
        this.#cache.set(key, sha256);
      }
      return sha256;
    }).finally(() => this.#inFlight.delete(key));
    // Every waiter sees a failure; if all of them left, it is no unhandled rejection.
    computation.catch(() => {});
    this.#inFlight.set(key, computation);
    return computation;
  }
}

/**
 * Path and version: two names of one inode (a hard link) are two entries,
 * but where the platform has no inode numbers two files of the same size
 * and mtime are never taken for one another.
 */
function cacheKey(path: string, identity: FileIdentity): string {
  return `${identityKey(identity)}\0${path}`;
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts (the promise goes on). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
