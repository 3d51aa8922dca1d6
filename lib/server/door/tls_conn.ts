/**
 * A TLS connection of the TLS port (tls_port.ts): `node:tls` runs the
 * protocol over a `Deno.TcpConn` that stays ours, so that closing it
 * closes the descriptor whatever state the handshake is in. Two adapters:
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
import { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { closeQuietly, writeAll } from "../../io.ts";

/** Bytes asked of the TCP connection per read: one TLS record and its header. */
const RECORD_READ_BYTES = 16 * 1024 + 64;

/**
 * Bytes a connection reads ahead of the handler: past it the socket stops
 * reading until the handler takes some. One TLS record (16 KiB) fits, so a
 * request that arrives whole is never split by this; a peer that keeps
 * sending to a queued or busy connection holds at most this much of ours.
 */
const READ_AHEAD_BYTES = 16 * 1024;

/** Node error codes that mean the peer is gone (a reset, or writing after its close). */
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT", "ENOTCONN"]);

/** A handshaken `node:tls` socket as a `Deno.Conn`. */
export class TlsConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  readonly #socket: TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  /** Wake the reads waiting for data, the end or an error. */
  #waiting: Array<() => void> = [];
  /** Fail the writes not yet taken when the connection closes under them. */
  readonly #writes = new Set<(error: Error) => void>();

  constructor(socket: TLSSocket, remoteAddr: Deno.NetAddr, localAddr: Deno.NetAddr) {
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    this.localAddr = localAddr;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= READ_AHEAD_BYTES) socket.pause();
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
      if (this.#socket.isPaused()) this.#socket.resume();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    const chunk = this.#chunks[0]!;
    const n = Math.min(chunk.length, p.length);
    p.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    this.#buffered -= n;
    if (this.#buffered < READ_AHEAD_BYTES && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  /**
   * Writes all of `p`; resolves when the socket has taken it (the caller may
   * reuse `p` then). A zero-length write only tells whether the connection
   * is still up (reader.ts probes a half-closed peer this way).
   */
  write(p: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("the connection is closed"));
    }
    if (this.#error !== undefined) return Promise.reject(denoError(this.#error));
    if (this.#socket.destroyed || !this.#socket.writable) {
      return Promise.reject(new Deno.errors.BrokenPipe("the peer closed the connection"));
    }
    if (p.length === 0) return Promise.resolve(0);
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
 * A `Deno.TcpConn` as the `node:stream` Duplex that `node:tls` reads
 * records from and writes them to. Destroying it closes the connection and
 * its descriptor at once — except while {@linkcode held}: during the
 * handshake the TLS port decides how the connection ends.
 */
export class TcpStream extends Duplex {
  readonly conn: StreamConn;
  /**
   * True while the handshake runs. `node:tls` destroys its stream before it
   * reports a failed handshake, and without a word to the peer; the port
   * then sends the alert itself and closes (tls_port.ts).
   */
  held = true;
  /** Where each read lands; `node:tls` gets a copy of what arrived. */
  readonly #scratch = new Uint8Array(RECORD_READ_BYTES);

  constructor(conn: StreamConn) {
    super({ allowHalfOpen: true });
    this.conn = conn;
  }

  override _read(): void {
    // One buffer for every read, and a copy of what came: a fresh 16 KiB buffer
    // per read, pushed as it was, cost a quarter of the requests per core in a
    // PING echo (27k against 33-38k per server core, interleaved runs).
    const buffer = this.#scratch;
    this.conn.read(buffer).then(
      (n) => this.push(n === null ? null : buffer.slice(0, n)),
      (error) => this.destroy(error),
    );
  }

  override _write(chunk: Uint8Array, _encoding: string, done: (error?: Error | null) => void) {
    writeAll(this.conn, chunk).then(() => done(), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.conn.closeWrite().then(() => done(), () => done());
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (!this.held) closeQuietly(this.conn);
    done(error);
  }
}

/** Node's socket error as the Deno error class the reader and the handler branch on. */
function denoError(error: Error): Error {
  const code = (error as { code?: string }).code ?? "";
  if (code === "EPIPE") return new Deno.errors.BrokenPipe(error.message);
  if (RESET_CODES.has(code)) return new Deno.errors.ConnectionReset(error.message);
  return error;
}
