/**
 * The files on PostgreSQL (docs/several-servers.md#the-shared-store): every server pointed at one
 * database serves the same files.
 *
 * - PUT is one transaction on a connection of its own: the bytes go in as
 *   pieces of {@linkcode PIECE_BYTES} under a fresh upload number, hashed
 *   as they pass, and only the commit at the end makes the name point at
 *   them (and drops the pieces of the version it replaces). Until then no
 *   server sees any of it. An upload cut short, a failed write, a server
 *   killed mid-upload (its connection closes) or lost (PostgreSQL ends a
 *   transaction idle for 10 minutes) all roll back: nothing is left behind,
 *   so there are no orphan pieces to clean up.
 * - GET reads in a REPEATABLE READ transaction: the name's row and every
 *   piece come from one snapshot, so a GET racing an overwrite or a DEL
 *   sends the whole old version with its own size and sha256. Pieces are
 *   fetched one ahead, so memory stays flat; the sha256 is the one PUT
 *   stored, never recomputed.
 * - LIST reads the index of complete files, in byte order of their names.
 */
import { createHash } from "node:crypto";
import type postgres from "postgres";
import { DataLinesBuilder } from "../../protocol/reply.ts";
import { CutShortError } from "../../io.ts";
import { Semaphore } from "../../lock.ts";
import { FileNotFoundError } from "../file_store.ts";
import { checkFileName } from "../file_names.ts";
import type { FileStorage, OpenedFile } from "../store.ts";
import { MAX_STREAMS, type PostgresDatabase } from "./database.ts";

/**
 * Bytes per stored piece. The driver sends and receives bytea as hex text,
 * so a piece costs twice its size on the way. Measured with `deno task
 * bench --only PGFILE --file-mib 256` on 2 cores shared with other work
 * (load average 12–14): 512 KiB pieces PUT 29 / GET 31 MB/s, server peak
 * RSS +129 MiB; 128 KiB 24 / 24, +126; 32 KiB 39 / 30, +175. The growth
 * is the driver's (a plain script inserting 256 MiB through it grew by 70–
 * 135 MiB; through COPY FROM STDIN in binary, 70) and stays flat with the
 * file's size: +143 MiB for 1 GiB.
 */
export const PIECE_BYTES = 512 * 1024;
/** LISTs built at once; others wait their turn (each holds its listing while it is built). */
const CONCURRENT_LISTINGS = 2;
/** Rows a LIST fetches per round trip. */
const LIST_BATCH = 1000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The shared {@linkcode FileStorage}. */
export class PostgresFileStore implements FileStorage {
  readonly maxFileSize: number;
  readonly #db: PostgresDatabase;
  /** Transfers holding a connection (database.ts says why they are bounded). */
  readonly #streams = new Semaphore(MAX_STREAMS);
  readonly #listings = new Semaphore(CONCURRENT_LISTINGS);

  constructor(db: PostgresDatabase, options: { maxFileSize: number }) {
    this.#db = db;
    this.maxFileSize = options.maxFileSize;
  }

  listing(): Promise<Uint8Array> {
    return this.#listings.run(async () => {
      const lines = new DataLinesBuilder();
      // A cursor: LIST_BATCH rows per round trip, each batch within the deadline.
      const rows = await this.#db.call((sql) =>
        Promise.resolve(
          sql`SELECT name, size, modified FROM switchboard_files ORDER BY name`
            .cursor(LIST_BATCH)[Symbol.asyncIterator](),
        )
      );
      for (;;) {
        const batch = await this.#db.within(rows.next());
        if (batch.done) break;
        for (const row of batch.value) {
          const name = decoder.decode(row.name as Uint8Array);
          lines.line(`${row.size} ${(row.modified as Date).toISOString()} ${name}`);
        }
      }
      return lines.bytes();
    });
  }

  async put(name: string, size: number, source: AsyncIterable<Uint8Array>): Promise<string> {
    checkFileName(name);
    const release = await this.#streams.acquire();
    try {
      const connection = await this.#db.reserve();
      try {
        return await this.#store(connection, encoder.encode(name), size, source);
      } finally {
        connection.release();
      }
    } finally {
      release();
    }
  }

  async #store(
    connection: postgres.ReservedSql,
    name: Uint8Array,
    size: number,
    source: AsyncIterable<Uint8Array>,
  ): Promise<string> {
    const db = this.#db;
    await db.within(connection`BEGIN`);
    let committed = false;
    // One piece is written while the next fills: a failure of the one in flight is seen at the next.
    let inFlight: Promise<unknown> = Promise.resolve();
    try {
      const [row] = await db.within(connection`SELECT nextval('switchboard_uploads')::text AS id`);
      const upload = String(row?.id);
      const hash = createHash("sha256");
      let piece = new Uint8Array(PIECE_BYTES);
      let filled = 0;
      let seq = 0;
      let written = 0;
      const send = async (bytes: Uint8Array) => {
        await inFlight;
        const step = db.within(connection`
          INSERT INTO switchboard_chunks (upload, seq, data) VALUES (${upload}::bigint, ${seq++}, ${bytes})`);
        step.catch(() => {}); // awaited by the next send, or below
        inFlight = step;
      };
      for await (const chunk of source) {
        hash.update(chunk);
        written += chunk.length;
        // Copied into our own piece: a payload chunk is only valid until the next but one is read.
        for (let at = 0; at < chunk.length;) {
          const n = Math.min(chunk.length - at, PIECE_BYTES - filled);
          piece.set(chunk.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === PIECE_BYTES) {
            await send(piece);
            piece = new Uint8Array(PIECE_BYTES);
            filled = 0;
          }
        }
      }
      if (written !== size) throw new CutShortError(written, size);
      if (filled > 0) await send(piece.subarray(0, filled));
      await inFlight;
      const sha256 = hash.digest("hex");
      // Takes the name's row lock, and learns which upload it held: the
      // no-op update returns the old upload, an insert returns ours.
      const [held] = await db.within(connection`
        INSERT INTO switchboard_files (name, upload, size, sha256, modified)
        VALUES (${name}, ${upload}::bigint, ${String(size)}::bigint, ${sha256}, clock_timestamp())
        ON CONFLICT (name) DO UPDATE SET upload = switchboard_files.upload
        RETURNING upload::text AS upload`);
      const old = String(held?.upload);
      if (old !== upload) {
        await db.within(connection`
          UPDATE switchboard_files
          SET upload = ${upload}::bigint, size = ${String(size)}::bigint, sha256 = ${sha256},
              modified = clock_timestamp()
          WHERE name = ${name}`);
        await db.within(connection`DELETE FROM switchboard_chunks WHERE upload = ${old}::bigint`);
      }
      await db.within(connection`COMMIT`);
      committed = true;
      return sha256;
    } finally {
      if (!committed) {
        await inFlight.catch(() => {});
        await db.within(connection`ROLLBACK`).catch(() => {});
      }
    }
  }

  async openForRead(name: string): Promise<OpenedFile> {
    checkFileName(name);
    const db = this.#db;
    const release = await this.#streams.acquire();
    let connection: postgres.ReservedSql | undefined;
    const finish = () => {
      if (connection === undefined) return release();
      const held = connection;
      connection = undefined;
      db.within(held`ROLLBACK`).catch(() => {}).finally(() => {
        held.release();
        release();
      });
    };
    try {
      connection = await db.reserve();
      await db.within(connection`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`);
      const [row] = await db.within(connection`
        SELECT upload::text AS upload, size::text AS size, sha256
        FROM switchboard_files WHERE name = ${encoder.encode(name)}`);
      if (row === undefined) throw new FileNotFoundError(name);
      const size = Number(row.size);
      const reader = connection;
      return {
        size,
        sha256: row.sha256 as string,
        chunks: () => readPieces(db, reader, String(row.upload), size),
        close: finish,
      };
    } catch (error) {
      finish();
      throw error;
    }
  }

  async delete(name: string): Promise<void> {
    checkFileName(name);
    // One statement, so one commit: the name and its pieces go together.
    const [row] = await this.#db.call((sql) =>
      sql`WITH gone AS (DELETE FROM switchboard_files WHERE name = ${
        encoder.encode(name)
      } RETURNING upload),
               pieces AS (DELETE FROM switchboard_chunks WHERE upload IN (SELECT upload FROM gone))
          SELECT count(*)::int AS n FROM gone`
    );
    if (Number(row?.n ?? 0) === 0) throw new FileNotFoundError(name);
  }
}

/**
 * The pieces of `upload`, in order, with the next one already asked for.
 * A piece that is missing or the wrong length throws: the DATA header
 * promised `size` bytes, so the connection must close (the reply writer
 * does that when a stream throws).
 */
async function* readPieces(
  db: PostgresDatabase,
  connection: postgres.ReservedSql,
  upload: string,
  size: number,
): AsyncGenerator<Uint8Array> {
  const fetch = (seq: number) => {
    const step = db.within(connection`
      SELECT data FROM switchboard_chunks WHERE upload = ${upload}::bigint AND seq = ${seq}`);
    step.catch(() => {}); // awaited below
    return step;
  };
  let sent = 0;
  let next = size > 0 ? fetch(0) : undefined;
  for (let seq = 0; next !== undefined; seq++) {
    const [row] = await next;
    const data = row?.data as Uint8Array | undefined;
    if (data === undefined || data.length === 0 || sent + data.length > size) {
      throw new Error(`piece ${seq} of upload ${upload} is missing or too long`);
    }
    sent += data.length;
    next = sent < size ? fetch(seq + 1) : undefined;
    yield data;
  }
}
