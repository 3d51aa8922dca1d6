/**
 * The KV store on PostgreSQL (docs/several-servers.md#the-shared-store): every server pointed at one
 * database sees the same keys. Each operation is one parameterised
 * statement, so each is atomic on its own and committed before it answers;
 * the writes of one pool go one after another (PostgresDatabase.callInOrder),
 * so that one told ERR never lands after the next one told OK:
 * INCR is a single `INSERT … ON CONFLICT DO UPDATE … RETURNING`, computed
 * by PostgreSQL in `numeric` (exact far past the 65,536-byte value limit),
 * and the row lock that statement takes orders the INCRs of every server.
 */
import { Buffer } from "node:buffer";
import { INTEGER_WORD as INTEGER } from "../../protocol/mod.ts";
import { Semaphore } from "../../lock.ts";
import {
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  NotAnIntegerError,
  ValueTooLargeError,
} from "../kv_store.ts";
import type { KeyValueStore } from "../store.ts";
import { Batcher } from "./batch.ts";
import type { PostgresDatabase } from "./database.ts";

/**
 * Listings (KEYS, SCAN, KEYS' count) in flight at once: each holds up to
 * 10,000 keys (2.5 MB) while its reply is built, as in the embedded store.
 */
const CONCURRENT_LISTINGS = 4;
/**
 * Calls gathered into one statement at most (batch.ts). Measured with
 * `deno task bench --quick --only PGKV` (50 clients): see docs/performance.md#postgresql-store-where-the-time-goes.
 */
const BATCH_MOST = 256;
/**
 * A byte no UTF-8 text contains: `prefix || 0xff` sorts after every key
 * that starts with `prefix` and before every greater key that does not,
 * so a prefix is one range of the primary key's index.
 */
const PAST_PREFIX = new Uint8Array([0xff]);
const NOTHING = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The shared {@linkcode KeyValueStore}. */
export class PostgresKvStore implements KeyValueStore {
  readonly #db: PostgresDatabase;
  readonly #listings = new Semaphore(CONCURRENT_LISTINGS);
  /** GETs: reads never conflict, so one batch per connection of the pool. */
  readonly #gets: Batcher<string, string | undefined>;
  /**
   * SETs: one batch at a time, so that a batch's row locks never wait for
   * another batch of this thread's. A batch whose callers were told it
   * timed out may still run in PostgreSQL: the next one waits for it
   * (callInOrder), so it cannot land after the client's next SET.
   */
  readonly #sets = new Batcher<{ key: string; value: Uint8Array }, void>(
    (pairs) => this.#setMany(pairs),
    { most: BATCH_MOST, inFlight: 1 },
  );

  /** INCRs: one batch at a time, as SETs. */
  readonly #incrs = new Batcher<{ key: string; by: bigint }, bigint>(
    (calls) => this.#incrementMany(calls),
    { most: BATCH_MOST, inFlight: 1 },
  );

  constructor(db: PostgresDatabase) {
    this.#db = db;
    this.#gets = new Batcher((keys) => this.#getMany(keys), {
      most: BATCH_MOST,
      inFlight: db.statements,
    });
  }

  get(key: string): Promise<string | undefined> {
    return this.#gets.submit(key);
  }

  async set(key: string, value: string): Promise<void> {
    const bytes = encoder.encode(value);
    if (bytes.length > MAX_VALUE_BYTES) throw tooLarge(bytes.length);
    await this.#sets.submit({ key, value: bytes });
  }

  /** The values of `keys` (undefined where missing), in one statement; keys travel as hex text. */
  async #getMany(keys: string[]): Promise<(string | undefined)[]> {
    const hex = keys.map(toHex);
    const rows = await this.#db.call((sql) =>
      sql`SELECT k, value FROM unnest(${[...new Set(hex)]}::text[]) AS k
          JOIN switchboard_kv ON key = decode(k, 'hex')`
    );
    const found = new Map<string, string>();
    for (const row of rows) found.set(row.k as string, decoder.decode(row.value as Uint8Array));
    return hex.map((key) => found.get(key));
  }

  /**
   * Stores every pair in one statement, so in one commit. The calls are
   * concurrent, so where a key comes twice the later one wins, as if it came
   * last. Keys go in byte order (lower-case hex sorts as the bytes do): the
   * batches of two servers lock shared rows in one order and never deadlock.
   */
  async #setMany(pairs: { key: string; value: Uint8Array }[]): Promise<void[]> {
    const latest = new Map<string, string>();
    for (const { key, value } of pairs) latest.set(toHex(key), toHex(value));
    const keys = [...latest.keys()].sort();
    const values = keys.map((key) => latest.get(key)!);
    await this.#db.callInOrder((sql) =>
      sql`INSERT INTO switchboard_kv (key, value)
          SELECT decode(k, 'hex'), decode(v, 'hex') FROM unnest(${keys}::text[], ${values}::text[]) AS t(k, v)
          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`
    );
    return pairs.map(() => undefined);
  }

  async delete(key: string): Promise<boolean> {
    const rows = await this.#db.callInOrder((sql) =>
      sql`DELETE FROM switchboard_kv WHERE key = ${encoder.encode(key)} RETURNING 1 AS gone`
    );
    return rows.length > 0;
  }

  increment(key: string, by: bigint): Promise<bigint> {
    const step = String(by);
    if (step.length > MAX_VALUE_BYTES) return Promise.reject(tooLarge(step.length));
    return this.#incrs.submit({ key, by });
  }

  /**
   * INCRs gathered: the steps of one key add up to one update of its row,
   * and each call is answered with the value after its own step, as if the
   * calls came one after another. Only where a key's steps all have one sign
   * (so every answer lies between the old and the new value, and fits where
   * they fit) and their sum fits; other keys, and keys whose update finds no
   * integer or no room, run one call at a time, to answer each exactly.
   */
  async #incrementMany(calls: { key: string; by: bigint }[]): Promise<(bigint | Error)[]> {
    const byKey = new Map<string, number[]>();
    calls.forEach(({ key }, i) => {
      const hex = toHex(key);
      byKey.set(hex, [...byKey.get(hex) ?? [], i]);
    });
    const totals = new Map<string, bigint>();
    for (const [hex, indexes] of byKey) {
      const steps = indexes.map((i) => calls[i]!.by);
      const total = steps.reduce((sum, by) => sum + by, 0n);
      const oneSign = steps.every((by) => by >= 0n) || steps.every((by) => by <= 0n);
      if (oneSign && String(total).length <= MAX_VALUE_BYTES) totals.set(hex, total);
    }
    const keys = [...totals.keys()].sort(); // byte order: see #setMany
    const steps = keys.map((hex) => String(totals.get(hex)));
    const rows = keys.length === 0
      ? []
      : await this.#db.callInOrder((sql) =>
        sql`INSERT INTO switchboard_kv AS kv (key, value)
          SELECT decode(k, 'hex'), convert_to((s::numeric)::text, 'UTF8')
          FROM unnest(${keys}::text[], ${steps}::text[]) AS t(k, s)
          ON CONFLICT (key) DO UPDATE
            SET value = convert_to((convert_from(kv.value, 'UTF8')::numeric
                                    + convert_from(EXCLUDED.value, 'UTF8')::numeric)::text, 'UTF8')
            WHERE convert_from(kv.value, 'UTF8') ~ '^[-+]?[0-9]+$'
              AND length((convert_from(kv.value, 'UTF8')::numeric
                          + convert_from(EXCLUDED.value, 'UTF8')::numeric)::text) <= ${MAX_VALUE_BYTES}
          RETURNING encode(key, 'hex') AS k, convert_from(value, 'UTF8') AS value`
      );
    const answers: (bigint | Error)[] = new Array(calls.length);
    for (const row of rows) {
      const hex = row.k as string;
      let value = BigInt(row.value as string) - totals.get(hex)!;
      for (const i of byKey.get(hex)!) answers[i] = value += calls[i]!.by;
      byKey.delete(hex);
    }
    for (const indexes of byKey.values()) {
      for (const i of indexes) {
        const { key, by } = calls[i]!;
        answers[i] = await this.#incrementOne(key, String(by)).catch((error) => {
          if (error instanceof Error) return error;
          throw error;
        });
      }
    }
    return answers;
  }

  /**
   * The update happens only where the stored value is an integer and the
   * result fits; otherwise no row comes back, and a second look says which
   * of the two it was (the value is left as it was).
   */
  async #incrementOne(key: string, step: string): Promise<bigint> {
    const name = encoder.encode(key);
    const rows = await this.#db.callInOrder((sql) =>
      sql`INSERT INTO switchboard_kv AS kv (key, value)
          VALUES (${name}, convert_to((${step}::numeric)::text, 'UTF8'))
          ON CONFLICT (key) DO UPDATE
            SET value = convert_to((convert_from(kv.value, 'UTF8')::numeric + ${step}::numeric)::text, 'UTF8')
            WHERE convert_from(kv.value, 'UTF8') ~ '^[-+]?[0-9]+$'
              AND length((convert_from(kv.value, 'UTF8')::numeric + ${step}::numeric)::text) <= ${MAX_VALUE_BYTES}
          RETURNING convert_from(value, 'UTF8') AS value`
    );
    const value = rows[0]?.value as string | undefined;
    if (value !== undefined) return BigInt(value);
    const current = await this.#getMany([key]).then(([value]) => value);
    if (current === undefined || INTEGER.test(current)) throw tooLarge(MAX_VALUE_BYTES + 1);
    throw new NotAnIntegerError("the value is not an integer");
  }

  countKeys(prefix: string, upTo: number): Promise<number> {
    return this.#listings.run(async () => {
      const range = prefixRange(prefix);
      if (range === undefined) return 0;
      const rows = await this.#db.call((sql) =>
        sql`SELECT count(*)::int AS n FROM (
              SELECT 1 FROM switchboard_kv WHERE key >= ${range.from} AND key < ${range.to}
              LIMIT ${upTo}) AS matching`
      );
      return Number(rows[0]?.n ?? 0);
    });
  }

  eachKey(
    prefix: string,
    options: { after?: string | undefined; limit: number },
    visit: (key: string) => void,
  ): Promise<number> {
    return this.#listings.run(async () => {
      const range = prefixRange(prefix);
      if (range === undefined || options.limit <= 0) return 0;
      // Every key is longer than nothing: no AFTER lists from the prefix on.
      const after = options.after === undefined ? NOTHING : encoder.encode(options.after);
      const rows = await this.#db.call((sql) =>
        sql`SELECT key FROM switchboard_kv
            WHERE key >= ${range.from} AND key < ${range.to} AND key > ${after}
            ORDER BY key LIMIT ${options.limit}`
      );
      for (const row of rows) visit(decoder.decode(row.key as Uint8Array));
      return rows.length;
    });
  }

  /** The database is closed by its owner (lib/server/services.ts), after the file store is done too. */
  close(): void {}
}

/** The keys starting with `prefix`, as a range of bytes; undefined when no key can (over 250 bytes). */
function prefixRange(prefix: string): { from: Uint8Array; to: Uint8Array } | undefined {
  const from = encoder.encode(prefix);
  if (from.length > MAX_KEY_BYTES) return undefined;
  const to = new Uint8Array(from.length + 1);
  to.set(from);
  to.set(PAST_PREFIX, from.length);
  return { from, to };
}

/** `text` (or its bytes) as lower-case hex. */
function toHex(text: string | Uint8Array): string {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");
}

function tooLarge(bytes: number): ValueTooLargeError {
  return new ValueTooLargeError(
    `values are limited to ${MAX_VALUE_BYTES} bytes: received ${bytes}`,
  );
}
