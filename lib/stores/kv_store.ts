/**
 * The durable key-value store behind the KV commands, on Deno KV.
 *
 * Why Deno KV: it is built into Deno (SQLite underneath, nothing to install),
 * a commit returns only once the transaction is in the database file, and it
 * has atomic check-and-set — exactly what INCR needs to be atomic across every
 * client of this server. The same API can later point at a Deno KV server when
 * one machine is not enough. `node:sqlite` would do too, with hand-written SQL
 * for every step, and its synchronous calls would stall the event loop.
 *
 * One process per `--data`: measured here, two servers sharing one database
 * file lost updates (200 concurrent INCRs ended at 105): Deno KV's
 * check-and-set holds within a process, not across processes. So the store
 * takes an exclusive lock on its directory and a second server refuses to
 * start on it, rather than silently losing writes.
 *
 * Values are stored as raw UTF-8 bytes, so a value is returned byte-exact.
 */

import { INTEGER_WORD as INTEGER } from "../protocol/mod.ts";

/** Longest key in UTF-8 bytes (SPEC §4 "KV"). */
export const MAX_KEY_BYTES = 250;
/** Largest value Deno KV accepts for a byte value; a bigger one is `ERR too-large`. */
export const MAX_VALUE_BYTES = 65536;
/** Name of the database file inside `--data`. */
export const DATABASE_FILE = "switchboard.kv";
/** Lock file that keeps a second server off the same database. */
export const LOCK_FILE = "switchboard.lock";
/** How long to wait for the directory lock before deciding another server holds it. */
const LOCK_WAIT_MS = 1000;

/** Every user key lives under this first key part, leaving room for other data later. */
const SPACE = "kv";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A value that does not fit (the command replies `ERR too-large`). */
export class ValueTooLargeError extends Error {
  override name = "ValueTooLargeError";
}

/** Another server process already uses this `--data` directory. */
export class StoreInUseError extends Error {
  override name = "StoreInUseError";
}

/** An INCR of a value that is not an integer (the command replies `ERR bad-args`). */
export class NotAnIntegerError extends Error {
  override name = "NotAnIntegerError";
}

/** The KV store; one per server. */
export class KvStore {
  readonly #kv: Deno.Kv;
  readonly #lock: Deno.FsFile;
  readonly path: string;

  private constructor(kv: Deno.Kv, lock: Deno.FsFile, path: string) {
    this.#kv = kv;
    this.#lock = lock;
    this.path = path;
  }

  /**
   * Opens (creating if needed) the database in `directory`. Throws
   * StoreInUseError if another server process holds the directory.
   */
  static async open(directory: string): Promise<KvStore> {
    await Deno.mkdir(directory, { recursive: true });
    const base = directory.replace(/\/+$/, "") || "/";
    const lock = await Deno.open(`${base}/${LOCK_FILE}`, { create: true, write: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const locked = await Promise.race([
      lock.lock(true).then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), LOCK_WAIT_MS)),
    ]).finally(() => clearTimeout(timer));
    if (!locked) {
      lock.close();
      throw new StoreInUseError(
        `${directory} is in use by another switchboard-server; give each server its own --data`,
      );
    }
    try {
      const path = `${base}/${DATABASE_FILE}`;
      return new KvStore(await Deno.openKv(path), lock, path);
    } catch (error) {
      lock.close();
      throw error;
    }
  }

  /** The value, or undefined when the key is missing. */
  async get(key: string): Promise<string | undefined> {
    const entry = await this.#kv.get<Uint8Array>([SPACE, key]);
    return entry.value === null ? undefined : decoder.decode(entry.value);
  }

  /** Stores the value; resolves once committed. */
  async set(key: string, value: string): Promise<void> {
    await this.#kv.set([SPACE, key], encodeValue(value));
  }

  /** Deletes the key; false if it was missing. */
  async delete(key: string): Promise<boolean> {
    for (;;) {
      const entry = await this.#kv.get([SPACE, key]);
      if (entry.value === null) return false;
      // Only report "deleted" if it was still that entry we deleted.
      const result = await this.#kv.atomic().check(entry).delete([SPACE, key]).commit();
      if (result.ok) return true;
    }
  }

  /**
   * Adds `by` to the integer stored at `key` (a missing key counts as 0) and
   * returns the new value. Deno KV's own `sum` is unsigned 64-bit, so this is
   * a check-and-set loop on exact BigInts: read, compute, commit only if
   * nobody changed the entry in between, otherwise retry.
   */
  async increment(key: string, by: bigint): Promise<bigint> {
    for (;;) {
      const entry = await this.#kv.get<Uint8Array>([SPACE, key]);
      let current = 0n;
      if (entry.value !== null) {
        const text = decoder.decode(entry.value);
        if (!INTEGER.test(text)) throw new NotAnIntegerError("the value is not an integer");
        current = BigInt(text);
      }
      const next = current + by;
      const result = await this.#kv.atomic().check(entry).set(
        [SPACE, key],
        encodeValue(String(next)),
      )
        .commit();
      if (result.ok) return next;
    }
  }

  /** Keys starting with `prefix`, in ascending byte order (Deno KV orders strings by UTF-8 bytes). */
  async keys(prefix = ""): Promise<string[]> {
    const keys: string[] = [];
    // Sorted, so start at the prefix and stop at the first key past it.
    for await (const entry of this.#kv.list({ prefix: [SPACE], start: [SPACE, prefix] })) {
      const key = entry.key[1] as string;
      if (!key.startsWith(prefix)) break;
      keys.push(key);
    }
    return keys;
  }

  /** Closes the database (on shutdown, after the clients are drained). */
  close(): void {
    this.#kv.close();
    this.#lock.close(); // releases the directory lock
  }
}

function encodeValue(value: string): Uint8Array {
  const bytes = encoder.encode(value);
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new ValueTooLargeError(
      `values are limited to ${MAX_VALUE_BYTES} bytes: received ${bytes.length}`,
    );
  }
  return bytes;
}
