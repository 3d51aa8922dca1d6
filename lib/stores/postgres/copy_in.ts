/**
 * A file's pieces into PostgreSQL (docs/several-servers.md#the-shared-store):
 * rows of COPY's binary format (copy.ts), each built once in a buffer that
 * is used again for later pieces, and written to the connection's socket
 * as a CopyData message as it is.
 *
 * Why not through the driver's COPY stream alone: it copies every piece
 * into a new message buffer (its `raw()` is a Buffer.concat), so a 1 GiB
 * PUT left 2 GiB of 512 KiB garbage (the piece and its copy) for V8 to
 * collect, and the server's peak RSS grew by ~80 MiB during the PUT
 * (docs/performance.md#postgresql-store-where-the-time-goes). The driver still starts and
 * ends each COPY and reads every answer; between its CopyInResponse and
 * the CopyDone it sends on `end()`, it writes nothing on the socket, so the
 * messages written here go between them in order.
 */
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import type postgres from "postgres";
import { HEADER, ROW_HEAD, settled, TRAILER } from "./copy.ts";
import type { PostgresDatabase } from "./database.ts";

/** A CopyData message's head: 'd', then the message's length (int32, counting itself). */
const MESSAGE_HEAD = 5;
/** Where a row's head begins in a piece buffer: room for a message head and the COPY's header before it. */
const ROW_AT = MESSAGE_HEAD + HEADER.length;
/** Where a piece's data begins in its buffer. */
const DATA_AT = ROW_AT + ROW_HEAD;
/**
 * The COPY of an upload's rows. Its WHERE is always true, and volatile:
 * PostgreSQL then stores each row as it arrives (a volatile WHERE might
 * read the table, so it gives up batching rows), where it otherwise keeps
 * up to 1,000 rows in memory (512 MiB of pieces: the bytes limit counts
 * text lines only) and stores them at the COPY's end, while the upload
 * waits for its answer. COPYs of 8 pieces without it, against
 * 64 with it, a 1 GiB PUT, warm private PostgreSQL 15, four pairs run back
 * to back (load average 1.4-3.2): 6.71 / 5.68 s, 6.33 / 6.58, 8.51 / 6.40,
 * 8.84 / 7.45; the backend then waited for the server 3 times in 50
 * samples, against 12 in 46.
 */
const COPY_FROM =
  "COPY switchboard_chunks (upload, seq, data) FROM STDIN (FORMAT binary) WHERE random() >= 0";
/**
 * Pieces one COPY FROM takes (32 MiB); then the COPY ends and PostgreSQL
 * answers, a round trip. Its rows are stored one by one as they come (see
 * {@linkcode COPY_FROM}), so the backend holds one row however many there are.
 */
const PIECES_PER_COPY = 64;

/**
 * Piece buffers, kept for the next piece or upload instead of left for the
 * collector; at most `keep` wait unused (more only while many uploads run).
 */
export class PieceBuffers {
  /** Data bytes each piece holds. */
  readonly pieceBytes: number;
  readonly #keep: number;
  readonly #free: Uint8Array[] = [];

  constructor(pieceBytes: number, options: { keep: number }) {
    this.pieceBytes = pieceBytes;
    this.#keep = options.keep;
  }

  /** A buffer for one piece; what it held before is overwritten before it is sent. */
  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(DATA_AT + this.pieceBytes);
  }

  /** `buffer` is no longer read by anyone (its write finished or failed). */
  give(buffer: Uint8Array): void {
    if (this.#free.length < this.#keep) this.#free.push(buffer);
  }

  /** Buffers waiting to be taken. */
  get idle(): number {
    return this.#free.length;
  }
}

/** Options of {@linkcode CopyIn}. */
export interface CopyInOptions {
  buffers: PieceBuffers;
  /**
   * The reserved connection's own socket, where messages go as built;
   * undefined (it could not be told apart: a proxy between) sends them
   * through the driver's COPY stream, which copies each.
   */
  socket: Socket | undefined;
}

/**
 * The rows of one upload, written as pieces through `COPY switchboard_chunks
 * (upload, seq, data) FROM STDIN (FORMAT binary)`, one COPY per
 * {@linkcode PIECES_PER_COPY} pieces. One piece is in the socket while the
 * next fills.
 */
export class CopyIn {
  readonly #db: PostgresDatabase;
  readonly #connection: postgres.ReservedSql;
  readonly #upload: bigint;
  readonly #buffers: PieceBuffers;
  readonly #socket: Socket | undefined;
  #piece: Uint8Array;
  /** Data bytes in #piece. */
  #filled = 0;
  #seq = 0;
  /** The COPY being written, and its first error (or a failed write's). */
  #stream: Writable | undefined;
  #failed: unknown;
  /** The last piece's write, until it finishes (or fails). */
  #writing: Promise<void> = Promise.resolve();

  constructor(
    db: PostgresDatabase,
    connection: postgres.ReservedSql,
    upload: bigint,
    options: CopyInOptions,
  ) {
    this.#db = db;
    this.#connection = connection;
    this.#upload = upload;
    this.#buffers = options.buffers;
    this.#socket = options.socket;
    this.#piece = this.#buffers.take();
  }

  /** Copies `chunk` in (it is only valid until the next but one is read), sending each full piece. */
  async add(chunk: Uint8Array): Promise<void> {
    const room = this.#buffers.pieceBytes;
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(chunk.length - at, room - this.#filled);
      this.#piece.set(chunk.subarray(at, at + n), DATA_AT + this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === room) await this.#send();
    }
  }

  /** Sends the last piece and ends the COPY; resolves once PostgreSQL has taken every row. */
  async end(): Promise<void> {
    if (this.#filled > 0) await this.#send();
    if (this.#stream !== undefined) await this.#endCopy(this.#stream);
    this.#buffers.give(this.#piece);
  }

  /** An upload given up: CopyFail makes PostgreSQL end the COPY with an error (the ROLLBACK that follows drops the rest). */
  abort(): void {
    this.#stream?.destroy(new Error("upload cut short"));
    this.#stream = undefined;
  }

  async #send(): Promise<void> {
    const stream = this.#stream ?? await this.#startCopy();
    this.#check();
    const piece = this.#piece;
    // The COPY's first message carries its header, the others start after that room.
    const first = this.#seq % PIECES_PER_COPY === 0;
    const start = first ? 0 : HEADER.length;
    const end = DATA_AT + this.#filled;
    const view = new DataView(piece.buffer, piece.byteOffset, piece.byteLength);
    if (first) piece.set(HEADER, MESSAGE_HEAD);
    view.setUint8(start, 0x64);
    view.setInt32(start + 1, end - start - 1);
    view.setInt16(ROW_AT, 3);
    view.setInt32(ROW_AT + 2, 8);
    view.setBigInt64(ROW_AT + 6, this.#upload);
    view.setInt32(ROW_AT + 14, 4);
    view.setInt32(ROW_AT + 18, this.#seq++);
    view.setInt32(ROW_AT + 22, this.#filled);
    // One write in flight while the next piece fills: the piece before must be written first,
    // so an upload holds two buffers at most (more, kept in the pool, grew the RSS under load).
    await this.#db.within(this.#writing);
    this.#check();
    // The buffer is read until its write finishes: only then may a later piece take it.
    let written!: () => void;
    this.#writing = new Promise<void>((resolve) => written = resolve);
    const done = (error?: Error | null) => {
      if (error) this.#failed ??= error;
      this.#buffers.give(piece);
      written();
    };
    this.#piece = this.#buffers.take();
    this.#filled = 0;
    const socket = this.#socket;
    const full = socket === undefined
      ? !stream.write(piece.subarray(start + MESSAGE_HEAD, end), done)
      : !socket.write(piece.subarray(start, end), done);
    if (full) await this.#db.within(settled(socket ?? stream, "drain"));
    if (this.#seq % PIECES_PER_COPY === 0) await this.#endCopy(stream);
  }

  async #startCopy(): Promise<Writable> {
    const stream = await this.#db.within(this.#connection.unsafe(COPY_FROM).writable());
    this.#failed = undefined;
    stream.on("error", (error) => this.#failed ??= error);
    this.#stream = stream;
    return stream;
  }

  async #endCopy(stream: Writable): Promise<void> {
    this.#check();
    const done = settled(stream, "finish");
    // Through the stream: nothing of it is pending (the rows went by the socket), so it goes after them.
    stream.end(TRAILER);
    await this.#db.within(done);
    this.#stream = undefined;
  }

  #check(): void {
    if (this.#failed !== undefined) throw this.#db.fault(this.#failed);
  }
}
