/**
 * COPY's binary format, which a file's pieces travel in both ways, and the
 * way out of PostgreSQL (the way in is copy_in.ts)
 * (docs/several-servers.md#the-shared-store): the bytes travel as they are,
 * where a bytea parameter or column travels as hex text (twice the bytes,
 * and encoding and decoding them on the server's thread). Measured in
 * docs/performance.md#postgresql-store-where-the-time-goes.
 *
 * The format: a 19-byte header, then per row a field count (int16), and per
 * field its length (int32) and bytes; a count of -1 ends it. All big-endian.
 */
import type { Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import type postgres from "postgres";
import { CopyExchange } from "./copy_exchange.ts";
import type { PostgresDatabase } from "./database.ts";

/** "PGCOPY\n\xff\r\n\0", no flags, no header extension. */
export const HEADER = new Uint8Array([
  ...[0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00],
  ...[0, 0, 0, 0, 0, 0, 0, 0],
]);
/** A row's bytes before its data: 3 fields; upload (8 bytes); seq (4); the data's length. */
export const ROW_HEAD = 2 + 4 + 8 + 4 + 4 + 4;
/** The field count that ends the rows. */
export const TRAILER = new Uint8Array([0xff, 0xff]);
/** Pieces one COPY TO sends: a GET left unfinished drains at most this many before its connection is free. */
const WINDOW = 16;

/** Resolves on `event`; rejects on the stream's error, or its close before `event`. */
export function settled(stream: Readable | Writable, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off(event, onEvent).off("error", onError).off("close", onClose);
    };
    const onEvent = () => (done(), resolve());
    const onError = (error: unknown) => (done(), reject(error));
    const onClose = () => (done(), reject(new Error("the COPY's stream closed")));
    stream.on(event, onEvent).on("error", onError).on("close", onClose);
  });
}

/** One COPY's data as it comes, pulled a part at a time; {@linkcode drop} when nobody will pull again. */
interface CopyReading {
  next(): Promise<Uint8Array | null>;
  drop(): void;
}

/**
 * The data of an upload's pieces, in order, through `COPY (SELECT …) TO
 * STDOUT (FORMAT binary)`, {@linkcode WINDOW} pieces per COPY: read
 * straight from the reserved connection's socket (copy_exchange.ts), or
 * through the driver's COPY stream where the socket is not known. Yields
 * parts of the socket's (or the driver's) buffers as they come; the socket
 * pauses while one waits to be sent, so memory stays flat. Throws where a
 * piece is missing or the bytes do not add up to `size`: the DATA header
 * promised them, so the connection must close (the reply writer does that
 * when a stream throws).
 */
export class CopyOut {
  readonly #db: PostgresDatabase;
  readonly #connection: postgres.ReservedSql;
  readonly #socket: Socket | undefined;
  readonly #upload: string;
  readonly #size: number;
  /** The COPY being read, until its end. */
  #reading: CopyReading | undefined;

  constructor(
    db: PostgresDatabase,
    connection: postgres.ReservedSql,
    file: { upload: string; size: number; socket: Socket | undefined },
  ) {
    if (!/^[0-9]+$/.test(file.upload)) {
      throw new Error(`upload number ${file.upload} is not a number`);
    }
    this.#db = db;
    this.#connection = connection;
    this.#socket = file.socket;
    this.#upload = file.upload;
    this.#size = file.size;
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    let sent = 0;
    for (let seq = 0; sent < this.#size; seq += WINDOW) {
      // No parameters in COPY: the upload is a number read from the database, checked above.
      const sql = `COPY (SELECT data FROM switchboard_chunks WHERE upload = ${this.#upload}
                 AND seq >= ${seq} AND seq < ${seq + WINDOW} ORDER BY seq)
           TO STDOUT (FORMAT binary)`;
      const reading = this.#socket === undefined
        ? puller(await this.#db.within(this.#connection.unsafe(sql).readable()))
        : new CopyExchange(this.#socket, sql);
      this.#reading = reading;
      const parser = new RowParser();
      for (let chunk = await this.#db.within(reading.next()); chunk !== null;) {
        for (const data of parser.feed(chunk)) {
          sent += data.length;
          if (sent > this.#size) throw this.#broken(`more than its ${this.#size} bytes`);
          yield data;
        }
        chunk = await this.#db.within(reading.next());
      }
      this.#reading = undefined;
      if (!parser.ended) throw this.#broken("a COPY that ended early");
      if (parser.rows === 0 && sent < this.#size) throw this.#broken(`piece ${seq} missing`);
    }
  }

  /**
   * A GET that stops early (its client left, or a check above failed): the
   * rest of this COPY is read and dropped, so that the connection's next
   * query (the ROLLBACK) is answered.
   */
  abandon(): void {
    this.#reading?.drop();
    this.#reading = undefined;
  }

  #broken(what: string): Error {
    return new Error(`upload ${this.#upload}: ${what}`);
  }
}

/**
 * Reads `stream` one chunk at a time (null at its end), pausing it between:
 * the driver then pauses its socket. Never destroys the stream (a destroyed
 * COPY stream would leave the driver's socket paused for good).
 */
function puller(stream: Readable): CopyReading {
  const queue: Uint8Array[] = [];
  let ended = false;
  let failed: unknown;
  let wake: (() => void) | undefined;
  const notify = () => (wake?.(), wake = undefined);
  stream.on("data", (chunk: Uint8Array) => (queue.push(chunk), stream.pause(), notify()));
  stream.on("end", () => (ended = true, resumeSocket(stream), notify()));
  stream.on("error", (error) => (failed ??= error, notify()));
  stream.pause();
  return {
    async next() {
      while (queue.length === 0 && !ended && failed === undefined) {
        const woken = new Promise<void>((resolve) => wake = resolve);
        stream.resume();
        await woken;
      }
      if (queue.length > 0) return queue.shift()!;
      if (failed !== undefined) throw failed;
      return null;
    },
    drop() {
      stream.removeAllListeners("data").on("data", () => {}).on("error", () => {}).resume();
    },
  };
}

/**
 * The driver (postgres 3.4.7 and 3.4.9) pauses its socket when a COPY's stream is
 * full, and resumes it only when the stream asks for more: a COPY whose
 * last message filled the stream ends with the socket paused, and the
 * connection's next answer is never read (seen: the next window's COPY hung
 * until the deadline). Its stream's read() is that resume; called at the end.
 */
function resumeSocket(stream: Readable): void {
  stream._read(0);
}

/** The binary COPY format's rows of one field, parsed as bytes come. */
class RowParser {
  rows = 0;
  ended = false;
  /** The fixed-size part being gathered: the header, a row's field count, or a field's length. */
  #part: "header" | "count" | "length" | "data" = "header";
  readonly #small = new Uint8Array(HEADER.length);
  #have = 0;
  #want = HEADER.length;
  /** Bytes of the current field still to come. */
  #remaining = 0;

  /** The data in `chunk`, as parts of it. */
  *feed(chunk: Uint8Array): Generator<Uint8Array> {
    for (let at = 0; at < chunk.length;) {
      if (this.ended) throw new Error("bytes after the end of a COPY");
      if (this.#part === "data") {
        const n = Math.min(this.#remaining, chunk.length - at);
        yield chunk.subarray(at, at + n);
        at += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#expect("count", 2);
        continue;
      }
      const n = Math.min(this.#want - this.#have, chunk.length - at);
      this.#small.set(chunk.subarray(at, at + n), this.#have);
      this.#have += n;
      at += n;
      if (this.#have === this.#want) this.#parsed();
    }
  }

  #parsed(): void {
    const view = new DataView(this.#small.buffer, 0, this.#want);
    if (this.#part === "header") {
      if (!HEADER.subarray(0, 11).every((byte, i) => this.#small[i] === byte)) {
        throw new Error("not a binary COPY");
      }
      if (view.getUint32(15) !== 0) throw new Error("a binary COPY header extension");
      this.#expect("count", 2);
    } else if (this.#part === "count") {
      const fields = view.getInt16(0);
      if (fields === -1) this.ended = true;
      else if (fields !== 1) throw new Error(`a COPY row of ${fields} fields`);
      else this.#expect("length", 4);
    } else {
      const length = view.getInt32(0);
      if (length <= 0) throw new Error("an empty piece");
      this.rows++;
      this.#remaining = length;
      this.#part = "data";
    }
  }

  #expect(part: "count" | "length", bytes: number): void {
    this.#part = part;
    this.#have = 0;
    this.#want = bytes;
  }
}
