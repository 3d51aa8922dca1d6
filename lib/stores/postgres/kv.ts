/**
 * The KV store on PostgreSQL (docs/several-servers.md#the-shared-store): every server pointed at one
 * database sees the same keys. Each operation is one parameterised
 * statement, so each is atomic on its own and committed before it answers:
 * INCR is a single `INSERT … ON CONFLICT DO UPDATE … RETURNING`, computed
 * by PostgreSQL in `numeric` (exact far past the 65,536-byte value limit),
 * and the row lock that statement takes orders the INCRs of every server.
 */
import { INTEGER_WORD as INTEGER } from "../../protocol/mod.ts";
import { Semaphore } from "../../lock.ts";
import {
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  NotAnIntegerError,
  ValueTooLargeError,
} from "../kv_store.ts";
import type { KeyValueStore } from "../store.ts";
import type { PostgresDatabase } from "./database.ts";

/**
 * Listings (KEYS, SCAN, KEYS' count) in flight at once: each holds up to
 * 10,000 keys (2.5 MB) while its reply is built, as in the embedded store.
 */
const CONCURRENT_LISTINGS = 4;
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

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async get(key: string): Promise<string | undefined> {
    const rows = await this.#db.call((sql) =>
      sql`SELECT value FROM switchboard_kv WHERE key = ${encoder.encode(key)}`
    );
    const value = rows[0]?.value as Uint8Array | undefined;
    return value === undefined ? undefined : decoder.decode(value);
  }

  async set(key: string, value: string): Promise<void> {
    const bytes = encoder.encode(value);
    if (bytes.length > MAX_VALUE_BYTES) throw tooLarge(bytes.length);
    await this.#db.call((sql) =>
      sql`INSERT INTO switchboard_kv (key, value) VALUES (${encoder.encode(key)}, ${bytes})
          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`
    );
  }

  async delete(key: string): Promise<boolean> {
    const rows = await this.#db.call((sql) =>
      sql`DELETE FROM switchboard_kv WHERE key = ${encoder.encode(key)} RETURNING 1 AS gone`
    );
    return rows.length > 0;
  }

  /**
   * The update happens only where the stored value is an integer and the
   * result fits; otherwise no row comes back, and a second look says which
   * of the two it was (the value is left as it was).
   */
  async increment(key: string, by: bigint): Promise<bigint> {
    const step = String(by);
    if (step.length > MAX_VALUE_BYTES) throw tooLarge(step.length);
    const name = encoder.encode(key);
    const rows = await this.#db.call((sql) =>
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
    const current = await this.get(key);
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

function tooLarge(bytes: number): ValueTooLargeError {
  return new ValueTooLargeError(
    `values are limited to ${MAX_VALUE_BYTES} bytes: received ${bytes}`,
  );
}
