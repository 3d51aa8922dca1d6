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
 *   sends the whole old version with its own size and sha256. Pieces
 *   stream through COPY with the socket paused while one waits to be sent,
 *   so memory stays flat; the sha256 is the one PUT stored, never recomputed.
 * - The bytes travel in COPY's binary format both ways (copy.ts, copy_in.ts), not as
 *   bytea parameters and columns, which the driver sends as hex text.
 * - LIST reads the index of complete files, in byte order of their names.
 */
import { deadline } from "@std/async/deadline";
import { createHash } from "node:crypto";
import type postgres from "postgres";
import { DataLinesBuilder } from "../../protocol/reply.ts";
import { CutShortError } from "../../io.ts";
import { Semaphore } from "../../lock.ts";
import { FileNotFoundError } from "../file_store.ts";
import { checkFileName } from "../file_names.ts";
import { type FileStorage, type OpenedFile, StoreBusyError } from "../store.ts";
import { CopyOut } from "./copy.ts";
import { CopyIn, PieceBuffers } from "./copy_in.ts";
import type { PostgresDatabase } from "./database.ts";

/**
 * Bytes per stored piece (a row of switchboard_chunks; PostgreSQL stores
 * it out of line in ~2 KB parts). Measured with bytea as hex text, before
 * COPY (`deno task bench --only PGFILE --file-mib 256`, load average 12–14):
 * 512 KiB PUT 29 / GET 31 MB/s; 128 KiB 24 / 24; 32 KiB 39 / 30. Through
 * COPY: see docs/performance.md#postgresql-store-where-the-time-goes.
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
  readonly #streams: Semaphore;
  readonly #listings = new Semaphore(CONCURRENT_LISTINGS);
  /** Two per upload (one filling, one in the socket), kept for as many uploads as hold a connection. */
  readonly #pieces: PieceBuffers;

  constructor(db: PostgresDatabase, options: { maxFileSize: number }) {
    this.#db = db;
    this.#streams = new Semaphore(db.maxStreams);
    this.#pieces = new PieceBuffers(PIECE_BYTES, { keep: 2 * db.maxStreams });
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
    const release = await this.#transfer();
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
    let sending: CopyIn | undefined;
    try {
      const [row] = await db.within(connection`SELECT nextval('switchboard_uploads')::text AS id`);
      const upload = String(row?.id);
      sending = new CopyIn(db, connection, BigInt(upload), {
        buffers: this.#pieces,
        socket: await db.socketOf(connection),
      });
      const hash = createHash("sha256");
      let written = 0;
      for await (const chunk of source) {
        hash.update(chunk);
        written += chunk.length;
        await sending.add(chunk);
      }
      if (written !== size) throw new CutShortError(written, size);
      await sending.end();
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
        sending?.abort();
        await db.within(connection`ROLLBACK`).catch(() => {});
      }
    }
  }

  async openForRead(name: string): Promise<OpenedFile> {
    checkFileName(name);
    const db = this.#db;
    const release = await this.#transfer();
    let connection: postgres.ReservedSql | undefined;
    let reading: CopyOut | undefined;
    const finish = () => {
      if (connection === undefined) return release();
      const held = connection;
      connection = undefined;
      reading?.abandon();
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
      reading = new CopyOut(db, connection, {
        upload: String(row.upload),
        size,
        socket: await db.socketOf(connection),
      });
      const pieces = reading;
      return {
        size,
        sha256: row.sha256 as string,
        chunks: () => pieces.chunks(),
        close: finish,
      };
    } catch (error) {
      finish();
      throw error;
    }
  }

  /**
   * A transfer's turn, within the deadline: transfers that keep --min-rate
   * may hold every connection for hours, and a client waits no longer than
   * for any other answer from the store. A turn that comes after is passed on.
   */
  async #transfer(): Promise<() => void> {
    const turn = this.#streams.acquire();
    try {
      return await deadline(turn, this.#db.callTimeoutMs);
    } catch {
      turn.then((giveBack) => giveBack());
      throw new StoreBusyError(
        `all ${this.#db.maxStreams} file transfers stayed in use for ${
          this.#db.callTimeoutMs / 1000
        } s; try again later`,
      );
    }
  }

  async delete(name: string): Promise<void> {
    checkFileName(name);
    // One statement, so one commit: the name and its pieces go together. In order with this
    // pool's other writes (callInOrder): one told ERR is never sent behind a write still running.
    const [row] = await this.#db.callInOrder((sql) =>
      sql`WITH gone AS (DELETE FROM switchboard_files WHERE name = ${
        encoder.encode(name)
      } RETURNING upload),
               pieces AS (DELETE FROM switchboard_chunks WHERE upload IN (SELECT upload FROM gone))
          SELECT count(*)::int AS n FROM gone`
    );
    if (Number(row?.n ?? 0) === 0) throw new FileNotFoundError(name);
  }
}
