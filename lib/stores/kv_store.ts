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

import { deadline } from "@std/async/deadline";
import { Semaphore } from "../lock.ts";
import { INTEGER_WORD as INTEGER } from "../protocol/mod.ts";
import type { KeyValueStore } from "./store.ts";

/** Longest key in UTF-8 bytes (docs/protocol.md#commands "KV"). */
export const MAX_KEY_BYTES = 250;
/** Largest value Deno KV accepts for a byte value; a bigger one is `ERR too-large`. */
export const MAX_VALUE_BYTES = 65536;
/** Name of the database file inside `--data`. */
export const DATABASE_FILE = "switchboard.kv";
/** Lock file that keeps a second server off the same database. */
export const LOCK_FILE = "switchboard.lock";
/** How long to wait for the directory lock before deciding another server holds it. */
const LOCK_WAIT_MS = 1000;

/** Every user key's value lives under this first key part. */
const SPACE = "kv";
/**
 * And every user key is listed again under this one, with an empty value:
 * Deno KV's `list` returns values too, so listing keys from SPACE would
 * read every value (up to 64 KiB each) to show its key. KEYS and SCAN read
 * this index instead; each write changes both in one atomic commit.
 */
const INDEX = "keys";
/** Bookkeeping of the store itself (the index's presence). */
const META = "meta";
/** Marks a database whose index is complete (databases from before the index get one at open). */
const INDEX_BUILT: Deno.KvKey = [META, "keys-index"];
/**
 * What one commit writes while building the index for an older database:
 * Deno KV refuses an atomic operation of more than 1,000 mutations or whose
 * keys add up to more than 81,920 bytes (both measured).
 */
const INDEX_BATCH = { entries: 500, keyBytes: 60_000 } as const;
/** Entries a listing fetches per round trip. */
const LIST_BATCH = 500;
/**
 * Listings (KEYS, SCAN, and the count KEYS does first) that run at once;
 * the rest wait their turn in order. A listing of 10,000 keys churns about
 * 5 MB of entries, which V8 gives back only later: 32 at once grew the
 * server's RSS by 129 MiB, 4 at a time by 65, 2 at a time by 52, with the
 * same keys listed a second (`deno task bench --only KVKEYS`: listing is
 * CPU on the one serving thread, so more at once is not faster).
 */
const CONCURRENT_LISTINGS = 2;
const EMPTY = new Uint8Array(0);
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

/** The embedded {@linkcode KeyValueStore}; one per server. */
export class KvStore implements KeyValueStore {
  readonly #kv: Deno.Kv;
  readonly #lock: Deno.FsFile;
  readonly #listings = new Semaphore(CONCURRENT_LISTINGS);
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
    const locked = await deadline(lock.lock(true), LOCK_WAIT_MS).then(() => true, () => false);
    if (!locked) {
      lock.close();
      throw new StoreInUseError(
        `${directory} is in use by another switchboard-server; give each server its own --data`,
      );
    }
    try {
      const path = `${base}/${DATABASE_FILE}`;
      const store = new KvStore(await Deno.openKv(path), lock, path);
      await store.#buildIndex();
      return store;
    } catch (error) {
      lock.close();
      throw error;
    }
  }

  /** Indexes the keys of a database written before the index existed (once). */
  async #buildIndex(): Promise<void> {
    if ((await this.#kv.get(INDEX_BUILT)).value !== null) return;
    let batch = this.#kv.atomic();
    let entries = 0;
    let keyBytes = 0;
    for await (const entry of this.#kv.list({ prefix: [SPACE] }, { batchSize: LIST_BATCH })) {
      const key = entry.key[1] as string;
      batch.set([INDEX, key], EMPTY);
      keyBytes += encoder.encode(key).length + INDEX.length;
      if (++entries >= INDEX_BATCH.entries || keyBytes >= INDEX_BATCH.keyBytes) {
        await batch.commit();
        batch = this.#kv.atomic();
        entries = keyBytes = 0;
      }
    }
    await batch.set(INDEX_BUILT, true).commit();
  }

  /** The value, or undefined when the key is missing. */
  async get(key: string): Promise<string | undefined> {
    const entry = await this.#kv.get<Uint8Array>([SPACE, key]);
    return entry.value === null ? undefined : decoder.decode(entry.value);
  }

  /** Stores the value; resolves once committed. */
  async set(key: string, value: string): Promise<void> {
    await this.#kv.atomic().set([SPACE, key], encodeValue(value)).set([INDEX, key], EMPTY).commit();
  }

  /** Deletes the key; false if it was missing. */
  async delete(key: string): Promise<boolean> {
    for (;;) {
      const entry = await this.#kv.get([SPACE, key]);
      if (entry.value === null) return false;
      // Only report "deleted" if it was still that entry we deleted.
      const result = await this.#kv.atomic().check(entry).delete([SPACE, key]).delete([INDEX, key])
        .commit();
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
      const result = await this.#kv.atomic().check(entry)
        .set([SPACE, key], encodeValue(String(next))).set([INDEX, key], EMPTY).commit();
      if (result.ok) return next;
    }
  }

  /**
   * How many keys start with `prefix`, counting no further than `upTo`:
   * KEYS asks this first, so that refusing a listing past its bound holds
   * no keys at all.
   */
  countKeys(prefix: string, upTo: number): Promise<number> {
    return this.eachKey(prefix, { limit: upTo }, () => {});
  }

  /**
   * Calls `visit` with each of up to `limit` keys that start with `prefix`
   * and sort after `after` (if given), in ascending byte order (Deno KV
   * orders strings by their UTF-8 bytes); returns how many it visited.
   * Reads the index, never a value, and holds nothing itself: a caller that
   * encodes each key as it comes builds a listing with one copy.
   */
  eachKey(
    prefix: string,
    options: { after?: string | undefined; limit: number },
    visit: (key: string) => void,
  ): Promise<number> {
    return this.#listings.run(() => this.#eachKey(prefix, options, visit));
  }

  async #eachKey(
    prefix: string,
    options: { after?: string | undefined; limit: number },
    visit: (key: string) => void,
  ): Promise<number> {
    let count = 0;
    if (encoder.encode(prefix).length > MAX_KEY_BYTES || options.limit <= 0) return count;
    const after = options.after === undefined ? undefined : afterBound(options.after);
    // Sorted, so start at the prefix (or just after `after`) and stop at the first key past it.
    const from = after !== undefined && compareUtf8(after, prefix) > 0 ? after : prefix;
    const listing = this.#kv.list(
      { prefix: [INDEX], start: [INDEX, from] },
      { batchSize: Math.min(LIST_BATCH, options.limit + 1) },
    );
    for await (const entry of listing) {
      const key = entry.key[1] as string;
      if (key === after) continue;
      if (!key.startsWith(prefix)) break;
      visit(key);
      if (++count === options.limit) break;
    }
    return count;
  }

  /** Closes the database (on shutdown, after the clients are drained). */
  close(): void {
    this.#kv.close();
    this.#lock.close(); // releases the directory lock
  }
}

/**
 * A stand-in for a SCAN's `AFTER <key>` that lists the same keys and is
 * short enough to be a Deno KV key (a read key over 2,049 bytes throws):
 * `after` itself up to 250 bytes, else its shortest prefix that ends on a
 * character boundary past 250 bytes (251–253 bytes). Why that lists the
 * same keys: a stored key X has at most 250 bytes. The cut C is a prefix of
 * `after`, so X > `after` implies X > C. Conversely, if X > C, X cannot
 * start with C (C is longer), so X and C first differ at a byte inside C,
 * where X's byte is larger; `after` has the same byte there, so X > `after`.
 * The longest prefix of at most 250 bytes would not do: with `after` =
 * 249 × "a" + "é…" it is 249 × "a", and the key 249 × "a" + "b" sorts
 * after that prefix but before `after` ("b" is 0x62, "é" starts 0xc3).
 */
function afterBound(after: string): string {
  if (after.length * 3 <= MAX_KEY_BYTES) return after; // at most 3 UTF-8 bytes per UTF-16 unit
  let bytes = 0;
  for (let i = 0; i < after.length; i++) {
    const unit = after.charCodeAt(i);
    // A surrogate pair is one 4-byte character: count it at its second unit.
    if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < after.length) {
      i++;
      bytes += 4;
    } else bytes += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
    if (bytes > MAX_KEY_BYTES) return after.slice(0, i + 1);
  }
  return after;
}

/** Orders two strings by their UTF-8 bytes, as Deno KV orders keys. */
function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
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
