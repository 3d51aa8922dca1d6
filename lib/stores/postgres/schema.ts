/**
 * The shared store's tables (docs/several-servers.md#the-shared-store), created on first start and
 * stamped with a version, so that a server never works on tables whose
 * meaning it does not know.
 *
 * - `switchboard_kv`: keys and values as bytea, so that the primary key's
 *   order is byte order (KEYS and SCAN list as the embedded store does,
 *   whatever the database's collation) and a value comes back byte-exact.
 * - `switchboard_files`: the index of complete files — name (bytea, for
 *   byte order in LIST), size, sha256 computed while storing, modified
 *   time, and the upload whose chunks hold the bytes.
 * - `switchboard_chunks`: the bytes, in pieces keyed by upload and
 *   sequence, so that a PUT and a GET stream with flat memory. Stored
 *   uncompressed (STORAGE EXTERNAL): files are mostly compressed already,
 *   and trying to compress every piece costs CPU for nothing.
 */
import type postgres from "postgres";

/** The version of these tables; a database stamped with another is refused. */
export const SCHEMA_VERSION = 1;
/**
 * An advisory lock key ("swbd" in ASCII), held while the tables are
 * checked or made: servers starting at once against an empty database
 * create the tables once, and the others then find them.
 */
const SCHEMA_LOCK = 0x73776264;

/** The database holds tables of a version this server does not know. */
export class IncompatibleSchemaError extends Error {
  override name = "IncompatibleSchemaError";
}

/**
 * Checks the tables, creating them when there are none; true when they
 * were created now. Throws IncompatibleSchemaError for another version.
 */
export async function prepareSchema(sql: postgres.Sql): Promise<boolean> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`;
    const [found] = await tx`SELECT to_regclass('switchboard_schema') IS NOT NULL AS present`;
    if (found?.present === true) {
      const rows = await tx`SELECT version FROM switchboard_schema`;
      const versions = rows.map((row) => Number(row.version));
      if (versions.length !== 1 || versions[0] !== SCHEMA_VERSION) {
        throw new IncompatibleSchemaError(
          `its tables are version ${
            versions.join(", ") || "(none)"
          }, this server uses version ${SCHEMA_VERSION}`,
        );
      }
      return false;
    }
    await tx`CREATE TABLE switchboard_schema (version integer NOT NULL)`;
    await tx`INSERT INTO switchboard_schema (version) VALUES (${SCHEMA_VERSION})`;
    await tx`CREATE TABLE switchboard_kv (key bytea PRIMARY KEY, value bytea NOT NULL)`;
    await tx`CREATE SEQUENCE switchboard_uploads`;
    await tx`
      CREATE TABLE switchboard_files (
        name bytea PRIMARY KEY,
        upload bigint NOT NULL,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        modified timestamptz NOT NULL
      )`;
    await tx`
      CREATE TABLE switchboard_chunks (
        upload bigint NOT NULL,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (upload, seq)
      )`;
    await tx`ALTER TABLE switchboard_chunks ALTER COLUMN data SET STORAGE EXTERNAL`;
    return true;
  });
}
