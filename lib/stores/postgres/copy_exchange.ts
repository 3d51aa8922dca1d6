/**
 * One `COPY … TO STDOUT` read straight from a reserved connection's socket
 * (docs/several-servers.md#the-shared-store), for FILE GET: the query goes
 * out as a simple Query message, and the answers are read here until
 * PostgreSQL is ready for the next query; then the socket goes back to the
 * driver, with any bytes that came after.
 *
 * Why not through the driver's COPY stream: it gathers every 512 KiB
 * CopyData message into a new buffer (a Buffer.concat of the socket's
 * reads) before handing it on, 1 GiB of garbage per GiB read, and the
 * server's peak RSS grew by ~100 MiB during a 1 GiB GET
 * (docs/performance.md#postgresql-store-where-the-time-goes). Here the data is handed on as
 * parts of the socket's own reads. The driver has nothing in flight on a
 * reserved connection between its queries, so it misses nothing: it keeps
 * its 'close' and 'error' listeners, and on a lost connection drops the
 * socket as always.
 */
import type { Socket } from "node:net";
import postgres from "postgres";

type DataListener = (chunk: Uint8Array) => void;

/** Message types (the first byte of each message PostgreSQL sends). */
const COPY_DATA = 0x64; // 'd'
const ERROR_RESPONSE = 0x45; // 'E'
const READY_FOR_QUERY = 0x5a; // 'Z'
/** A message's head: its type, then its length (int32, counting itself, not the type). */
const MESSAGE_HEAD = 5;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The COPY's data, as PostgreSQL sends it (COPY's own format), pulled one socket read at a time. */
export class CopyExchange {
  readonly #socket: Socket;
  readonly #driver: DataListener[];
  readonly #onData = (chunk: Uint8Array) => this.#take(chunk);
  readonly #onClose = () => this.#fail(closedError());
  /** Data received and not yet pulled; the socket pauses while there is some. */
  #queue: Uint8Array[] = [];
  /** ReadyForQuery came, or the socket closed: the socket is no longer ours. */
  #over = false;
  #failed: unknown;
  /** Nobody pulls any more: data is dropped until ReadyForQuery. */
  #dropping = false;
  #wake: (() => void) | undefined;
  /** The message being read: its head, its type, its body bytes still to come. */
  readonly #head = new Uint8Array(MESSAGE_HEAD);
  #headBytes = 0;
  #left = 0;
  /** An ErrorResponse's body, gathered whole. */
  #error: Uint8Array | undefined;
  #errorBytes = 0;

  /** Takes the socket's data from the driver and sends `sql` (one statement, no parameters). */
  constructor(socket: Socket, sql: string) {
    this.#socket = socket;
    this.#driver = socket.listeners("data") as DataListener[];
    socket.on("data", this.#onData);
    for (const listener of this.#driver) socket.off("data", listener);
    socket.on("close", this.#onClose);
    socket.resume();
    socket.write(queryMessage(sql));
  }

  /** The next part of the COPY's data; null once PostgreSQL is done. Throws its error, or a lost connection's. */
  async next(): Promise<Uint8Array | null> {
    while (this.#queue.length === 0 && !this.#over) {
      const woken = new Promise<void>((resolve) => this.#wake = resolve);
      this.#socket.resume();
      await woken;
    }
    if (this.#queue.length > 0) return this.#queue.shift()!;
    if (this.#failed !== undefined) throw this.#failed;
    return null;
  }

  /** Nobody will pull again: the rest is read and dropped, and the socket goes back to the driver at the end. */
  drop(): void {
    this.#dropping = true;
    this.#queue = [];
    this.#socket.resume();
  }

  #take(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.length && !this.#over;) {
      if (this.#headBytes < MESSAGE_HEAD) {
        const n = Math.min(MESSAGE_HEAD - this.#headBytes, chunk.length - at);
        this.#head.set(chunk.subarray(at, at + n), this.#headBytes);
        this.#headBytes += n;
        at += n;
        if (this.#headBytes < MESSAGE_HEAD) break;
        this.#left = new DataView(this.#head.buffer).getInt32(1) - 4;
        if (this.#head[0] === ERROR_RESPONSE) {
          this.#error = new Uint8Array(this.#left);
          this.#errorBytes = 0;
        }
      }
      const n = Math.min(this.#left, chunk.length - at);
      const body = chunk.subarray(at, at + n);
      if (this.#head[0] === COPY_DATA && !this.#dropping && n > 0) this.#queue.push(body);
      if (this.#error !== undefined) {
        this.#error.set(body, this.#errorBytes);
        this.#errorBytes += n;
      }
      this.#left -= n;
      at += n;
      if (this.#left === 0) this.#ended(chunk.subarray(at));
    }
    // Once ReadyForQuery came the socket is the driver's again: paused here, it would never read
    // the answer to its next query (the GET's ROLLBACK waited out its deadline, and the connection
    // went back to the pool unable to answer anything: tests/e2e_postgres_transfers_test.ts).
    if (this.#queue.length > 0 && !this.#over) this.#socket.pause();
    this.#wake?.();
  }

  /** A message is whole; `rest` is what came after it in the same read. */
  #ended(rest: Uint8Array): void {
    this.#headBytes = 0;
    if (this.#error !== undefined) {
      this.#failed ??= parseError(this.#error);
      this.#error = undefined;
    }
    if (this.#head[0] !== READY_FOR_QUERY) return;
    this.#over = true;
    this.#socket.off("data", this.#onData).off("close", this.#onClose);
    for (const listener of this.#driver) this.#socket.on("data", listener);
    this.#socket.resume();
    if (rest.length > 0) { for (const listener of this.#driver) listener(rest); }
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    this.#over = true;
    this.#wake?.();
  }
}

/** A simple Query message: 'Q', its length, the statement, a zero byte. */
function queryMessage(sql: string): Uint8Array {
  const text = encoder.encode(sql);
  const message = new Uint8Array(MESSAGE_HEAD + text.length + 1);
  message[0] = 0x51; // 'Q'
  new DataView(message.buffer).setInt32(1, 4 + text.length + 1);
  message.set(text, MESSAGE_HEAD);
  return message;
}

/** An ErrorResponse's fields (a type byte, then a zero-ended string, each) as the driver's PostgresError. */
function parseError(body: Uint8Array): Error {
  const fields: Record<string, string> = {};
  for (let at = 0; at < body.length && body[at] !== 0;) {
    const end = body.indexOf(0, at + 1);
    fields[String.fromCharCode(body[at]!)] = decoder.decode(body.subarray(at + 1, end));
    at = end + 1;
  }
  return new postgres.PostgresError(
    {
      message: fields.M ?? "unknown error",
      code: fields.C ?? "XX000",
      severity: fields.S,
    } as never,
  );
}

/** The socket closed mid-COPY, as the driver says it (database.ts sees it as an unreachable store). */
function closedError(): Error {
  return Object.assign(new Error("the connection to PostgreSQL closed"), {
    code: "CONNECTION_CLOSED",
  });
}
