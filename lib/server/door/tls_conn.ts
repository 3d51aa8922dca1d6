/**
 * A TLS connection of the TLS port (tls_port.ts): `node:tls` runs the
 * protocol over a `Deno.TcpConn` that stays ours, so that closing it
 * closes the descriptor whatever state the handshake is in; on Node's
 * native handle where one can be made (native_socket.ts), else over this
 * file's JS stream. Two adapters:
 * {@linkcode TcpStream} shows the TCP connection to `node:tls` as the
 * stream it reads and writes the records on; {@linkcode TlsConn} shows the
 * TLS socket to the handler, the reader and the refusal as the `Deno.Conn`
 * they use: `read()` into the caller's buffer, `write()` that resolves
 * once the bytes are handed on, `closeWrite()`, `close()`. Errors come out
 * as Deno's error classes, so that the reader tells a reset from a bug the
 * same way on both ports (reader.ts `isDisconnect`).
 *
 * A peer that ends the connection without TLS's close_notify is an end of
 * input like any other (docs/security.md#running-it-on-a-network): it is not an error, and it
 * is not logged as one.
 */
import { EventEmitter } from "node:events";
import process from "node:process";
import type { TLSSocket } from "node:tls";
import { closeQuietly, writeAll } from "../../io.ts";

/** Bytes asked of the TCP connection per read: one TLS record and its header. */
const RECORD_READ_BYTES = 16 * 1024 + 64;

/**
 * Bytes a connection reads ahead of the handler: past it no record is read
 * from the socket until the handler takes some. One TLS record (16 KiB) fits, so a
 * request that arrives whole is never split by this; a peer that keeps
 * sending to a queued or busy connection holds at most this much of ours.
 */
const READ_AHEAD_BYTES = 16 * 1024;

/** Node error codes that mean the peer is gone (a reset, or writing after its close). */
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT", "ENOTCONN"]);

/**
 * Where a connection's records are read: a {@linkcode TcpStream}, or a
 * native socket (native_socket.ts). True stops reading until set false.
 */
export interface RecordReads {
  readAheadFull: boolean;
}

/** A handshaken `node:tls` socket as a `Deno.Conn`. */
export class TlsConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  readonly #socket: TLSSocket;
  readonly #records: RecordReads;
  /** The TCP connection under the TLS socket: a zero-length write there is the probe for a reset. */
  readonly #tcp: Pick<StreamConn, "write">;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  /** Wake the reads waiting for data, the end or an error. */
  #waiting: Array<() => void> = [];
  /** Fail the writes not yet taken when the connection closes under them. */
  readonly #writes = new Set<(error: Error) => void>();

  /**
   * `socket` runs over `records`; `records` is where reading stops once
   * {@linkcode READ_AHEAD_BYTES} wait unread (pausing `socket` would not
   * do: its TLS layer goes on taking records from a JS stream and keeps
   * what it decrypts). `tcp` is the TCP connection under both.
   */
  constructor(
    socket: TLSSocket,
    records: RecordReads,
    addresses: { remote: Deno.NetAddr; local: Deno.NetAddr; tcp: Pick<StreamConn, "write"> },
  ) {
    this.#socket = socket;
    this.#records = records;
    this.#tcp = addresses.tcp;
    this.remoteAddr = addresses.remote;
    this.localAddr = addresses.local;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= READ_AHEAD_BYTES) records.readAheadFull = true;
      this.#wakeReader();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wakeReader();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#wakeReader();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wakeReader();
      this.#failWrites(new Deno.errors.BrokenPipe("the connection is closed"));
    });
  }

  /** Reads into `p`: the byte count, or null at the end of input. Throws Deno's error for a reset. */
  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
      if (this.#error !== undefined) throw denoError(this.#error);
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    const chunk = this.#chunks[0]!;
    const n = Math.min(chunk.length, p.length);
    p.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    this.#buffered -= n;
    if (this.#buffered < READ_AHEAD_BYTES) this.#records.readAheadFull = false;
    return n;
  }

  /**
   * Writes all of `p`; resolves when the socket has taken it (the caller may
   * reuse `p` then). A zero-length write only tells whether the connection
   * is still up (reader.ts probes a half-closed peer this way): it goes to
   * the TCP connection, since `node:tls` over Deno reports a peer's reset as
   * an end of input and keeps its socket writable until a record is sent.
   */
  write(p: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("the connection is closed"));
    }
    if (this.#error !== undefined) return Promise.reject(denoError(this.#error));
    if (this.#socket.destroyed || !this.#socket.writable) {
      return Promise.reject(new Deno.errors.BrokenPipe("the peer closed the connection"));
    }
    if (p.length === 0) return this.#tcp.write(p);
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      this.#writes.add(fail);
      this.#socket.write(p, (error) => {
        this.#writes.delete(fail);
        if (error) reject(denoError(error));
        else resolve(p.length);
      });
    });
  }

  /** Sends close_notify and ends our direction; the peer may still send. */
  closeWrite(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("the connection is closed"));
    }
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  /** Closes the socket and its descriptor at once; a pending read ends. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#wakeReader();
    this.#failWrites(new Deno.errors.BadResource("the connection is closed"));
  }

  #wakeReader(): void {
    const waiting = this.#waiting;
    if (waiting.length === 0) return;
    this.#waiting = [];
    for (const wake of waiting) wake();
  }

  #failWrites(error: Error): void {
    for (const fail of this.#writes) fail(error);
    this.#writes.clear();
  }
}

/** What {@linkcode TcpStream} uses of a connection: a `Deno.TcpConn`, or one after its PROXY header. */
export type StreamConn = Pick<Deno.Conn, "read" | "write" | "closeWrite" | "close">;

/**
 * A `Deno.TcpConn` as the duplex stream that `node:tls` reads records from
 * and writes them to. Destroying it closes the connection and its
 * descriptor at once — except while {@linkcode held}: during the handshake
 * the TLS port decides how the connection ends.
 *
 * Why an event emitter with a duplex's methods and not a `node:stream`
 * Duplex: Deno's `node:tls` takes a JS stream through its JSStreamSocket,
 * which listens to `data`, `end`, `error` and `close` and calls `pause`,
 * `resume`, `write(bytes, done)`, `end` and `destroy`; nothing else. A
 * Duplex put Node's Readable and Writable between each record and the TLS
 * layer (push, buffering, nextTick callbacks): without them each read goes
 * from the connection to the TLS layer in one `emit`, with no copy (the TLS
 * layer copies the bytes before `emit` returns, so one buffer serves every
 * read), and each record from the TLS layer straight to the connection.
 * Measured (S1 over TLS, 50 clients, PING, requests per server core, 4
 * interleaved pairs): 52,600 with the Duplex, 56,106 without (1.07×).
 */
export class TcpStream extends EventEmitter implements RecordReads {
  readonly conn: StreamConn;
  /**
   * True while the handshake runs. `node:tls` destroys its stream before it
   * reports a failed handshake, and without a word to the peer; the port
   * then sends the alert itself and closes (tls_port.ts).
   */
  held = true;
  readonly allowHalfOpen = true;
  readable = true;
  writable = true;
  destroyed = false;
  /** Where each read lands; the TLS layer copies it out before the next. */
  readonly #scratch = new Uint8Array(RECORD_READ_BYTES);
  #flowing = false;
  #readAheadFull = false;
  #reading = false;
  /** Records waiting for the one write in progress, and what each one's writer is told. */
  readonly #queued: Array<{ bytes: Uint8Array; done: WriteDone | undefined }> = [];
  #writing = false;
  #ending: (() => void) | undefined;

  constructor(conn: StreamConn) {
    super();
    this.conn = conn;
  }

  /**
   * True while the connection's reader has {@linkcode READ_AHEAD_BYTES}
   * unread ({@linkcode TlsConn}): no record is read meanwhile, so a peer
   * that keeps sending fills its own buffers, not ours.
   */
  get readAheadFull(): boolean {
    return this.#readAheadFull;
  }

  set readAheadFull(full: boolean) {
    if (full === this.#readAheadFull) return;
    this.#readAheadFull = full;
    if (!full) this.#startReading();
  }

  /** Reads records (JSStreamSocket's readStart). */
  resume(): this {
    this.#flowing = true;
    this.#startReading();
    return this;
  }

  /** Stops reading records; a read in progress still hands on what it gets. */
  pause(): this {
    this.#flowing = false;
    return this;
  }

  /** Queues `bytes` for the connection; `done` once all are written (or with the error). */
  write(bytes: Uint8Array, done?: WriteDone): boolean {
    if (this.destroyed || !this.writable) {
      const error = new Deno.errors.BrokenPipe("the connection is closed");
      queueMicrotask(() => done?.(error));
      return false;
    }
    this.#queued.push({ bytes, done });
    if (!this.#writing) void this.#writeLoop();
    return true;
  }

  /** Part of the duplex shape; each record is written as it comes. */
  cork(): void {}
  /** Part of the duplex shape; each record is written as it comes. */
  uncork(): void {}

  /** Ends our direction (FIN) once the queued records are written. */
  end(done?: () => void): this {
    if (this.destroyed || !this.writable) {
      if (done) queueMicrotask(done);
      return this;
    }
    this.writable = false;
    this.#ending = () => this.conn.closeWrite().then(() => done?.(), () => done?.());
    if (!this.#writing) this.#finish();
    return this;
  }

  /**
   * Closes the connection unless {@linkcode held}; queued writes fail, then
   * `error` (if any) and `close` are emitted on the next tick, as Node's streams do.
   */
  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.readable = false;
    this.writable = false;
    if (!this.held) closeQuietly(this.conn);
    const queued = this.#queued.splice(0);
    process.nextTick(() => {
      const closed = error ?? new Deno.errors.BrokenPipe("the connection is closed");
      for (const { done } of queued) done?.(closed);
      if (error !== undefined) this.emit("error", error);
      this.emit("close");
    });
    return this;
  }

  #startReading(): void {
    if (!this.#reading) void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#flowing && !this.#readAheadFull && !this.destroyed) {
        const n = await this.conn.read(this.#scratch);
        if (this.destroyed) return;
        if (n === null) {
          this.readable = false;
          this.emit("end");
          return;
        }
        this.emit("data", this.#scratch.subarray(0, n));
      }
    } catch (error) {
      this.destroy(error as Error);
    } finally {
      this.#reading = false;
    }
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      for (let next = this.#queued.shift(); next !== undefined; next = this.#queued.shift()) {
        try {
          await writeAll(this.conn, next.bytes);
        } catch (error) {
          next.done?.(error as Error);
          this.destroy(error as Error);
          return;
        }
        next.done?.();
      }
    } finally {
      this.#writing = false;
    }
    this.#finish();
  }

  #finish(): void {
    const ending = this.#ending;
    if (ending === undefined || this.destroyed) return;
    this.#ending = undefined;
    ending();
  }
}

/** How a {@linkcode TcpStream} write tells its writer that it is done. */
type WriteDone = (error?: Error | null) => void;

/** Node's socket error as the Deno error class the reader and the handler branch on. */
function denoError(error: Error): Error {
  const code = (error as { code?: string }).code ?? "";
  if (code === "EPIPE") return new Deno.errors.BrokenPipe(error.message);
  if (RESET_CODES.has(code)) return new Deno.errors.ConnectionReset(error.message);
  return error;
}
