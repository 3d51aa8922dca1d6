/**
 * What the KV and FILE commands see of a store: one interface each, with
 * one implementation per backend — the embedded ones (kv_store.ts on Deno
 * KV, file_store.ts on a directory) and the shared ones on PostgreSQL
 * (postgres/). lib/server/services.ts picks the backend; the commands
 * never know which one serves them.
 */

/** A file opened for GET: size and hash of exactly the bytes `chunks()` will yield. */
export interface OpenedFile {
  size: number;
  sha256: string;
  chunks(): AsyncGenerator<Uint8Array>;
  close(): void;
}

/** The KV commands' store (docs/protocol.md#commands "KV"). */
export interface KeyValueStore {
  /** The value, or undefined when the key is missing. */
  get(key: string): Promise<string | undefined>;
  /** Stores the value; resolves once committed. Throws ValueTooLargeError past MAX_VALUE_BYTES. */
  set(key: string, value: string): Promise<void>;
  /** Deletes the key; false if it was missing. */
  delete(key: string): Promise<boolean>;
  /** Adds `by` to the integer at `key` (missing counts as 0), atomically; throws NotAnIntegerError. */
  increment(key: string, by: bigint): Promise<bigint>;
  /** How many keys start with `prefix`, counting no further than `upTo`. */
  countKeys(prefix: string, upTo: number): Promise<number>;
  /**
   * Calls `visit` with each of up to `limit` keys that start with `prefix`
   * and sort after `after` (if given), in ascending byte order; returns how many.
   */
  eachKey(
    prefix: string,
    options: { after?: string | undefined; limit: number },
    visit: (key: string) => void,
  ): Promise<number>;
  /** Closes it (on shutdown, after the clients are drained). */
  close(): void | Promise<void>;
}

/** The FILE commands' store (docs/protocol.md#commands FILE rows). */
export interface FileStorage {
  /** The largest PUT, in bytes. */
  readonly maxFileSize: number;
  /** FILE LIST's lines (`<size> <modified> <name>`), sorted by name in byte order. */
  listing(): Promise<Uint8Array>;
  /**
   * Stores `size` bytes from `source` as `name`, atomically; returns the
   * sha256. Throws CutShortError if the source ends early: nothing is left then.
   */
  put(name: string, size: number, source: AsyncIterable<Uint8Array>): Promise<string>;
  /** Opens `name` for streaming; throws FileNotFoundError. */
  openForRead(name: string, options?: { signal?: AbortSignal }): Promise<OpenedFile>;
  /** Deletes `name`; throws FileNotFoundError. */
  delete(name: string): Promise<void>;
}

/**
 * The store cannot be reached right now (docs/several-servers.md#when-the-database-is-down):
 * the command replies `ERR unavailable store unreachable: <reason>`.
 */
export class StoreUnreachableError extends Error {
  override name = "StoreUnreachableError";
  constructor(readonly reason: string) {
    super(`store unreachable: ${reason}`);
  }
}

/**
 * Every transfer connection of the store stayed taken for a whole deadline
 * (docs/several-servers.md#the-shared-store): the command replies `ERR busy <message>`
 * instead of waiting for as long as slow transfers keep going.
 */
export class StoreBusyError extends Error {
  override name = "StoreBusyError";
}
