/**
 * The client side of the protocol: a connection that sends request lines and
 * reads replies with the same protocol module the server uses. Pipelining is
 * natural: send many, read replies in order. Every failure of the network
 * (refused, reset, closed, timed out, a certificate that does not verify)
 * becomes one {@linkcode ConnectError} with a one-line reason. With TLS and
 * credentials (SPEC §7 `--tls`, `--user`), the connection is encrypted and
 * signed in before any mode sends its first request.
 */
import { deadline } from "@std/async/deadline";
import { type ByteSource, writeAll } from "../io.ts";
import {
  ConnectionClosedError,
  type ParsedReply,
  quoteWord,
  ReplyReader,
} from "../protocol/mod.ts";
import type { Credentials } from "./credentials.ts";

const encoder = new TextEncoder();

/** Connecting or waiting for a reply failed (exit code 3 in the client). */
export class ConnectError extends Error {
  override name = "ConnectError";
}

/** The server answered AUTH with an error: `reply` says why (exit code 1 in the client). */
export class AuthRefusedError extends Error {
  override name = "AuthRefusedError";
  constructor(readonly reply: ParsedReply & { kind: "err" }) {
    super(`AUTH refused: ${reply.code} ${reply.message}`);
  }
}

/** Options of {@linkcode Connection.open}. */
export interface ConnectOptions {
  host: string;
  port: number;
  /**
   * Milliseconds to connect, and that a reply may keep us waiting with no
   * byte arriving (a DATA body included); 0 waits forever.
   */
  timeoutMs: number;
  /**
   * Connect with TLS: the certificate must verify against `caCerts` (PEM;
   * the system roots when empty) and name `host`. There is deliberately no
   * way to skip the check.
   */
  tls?: { caCerts: string[] } | undefined;
  /** Sent as `AUTH` before anything else; a refusal is {@linkcode AuthRefusedError}. */
  credentials?: Credentials | undefined;
}

/** One client connection to a switchboard server. */
export class Connection {
  readonly #conn: Deno.TcpConn | Deno.TlsConn;
  readonly #replies: ReplyReader;
  readonly #where: string;
  readonly #tls: boolean;

  private constructor(conn: Deno.TcpConn | Deno.TlsConn, options: ConnectOptions) {
    this.#conn = conn;
    this.#where = `${options.host}:${options.port}`;
    this.#tls = options.tls !== undefined;
    this.#replies = new ReplyReader(
      options.timeoutMs > 0 ? timedSource(conn, options.timeoutMs, this.#where) : conn,
    );
  }

  /**
   * Connects (and with `tls`, completes the handshake; with `credentials`,
   * signs in), or throws ConnectError with a one-line reason, or
   * AuthRefusedError with the server's reply.
   */
  static async open(options: ConnectOptions): Promise<Connection> {
    const where = `${options.host}:${options.port}`;
    let connection: Connection;
    try {
      const connecting = connect(options);
      // --timeout 0 waits forever.
      const conn =
        await (options.timeoutMs > 0 ? deadline(connecting, options.timeoutMs) : connecting);
      connection = new Connection(conn, options);
    } catch (error) {
      const reason = isTimeout(error) ? "timed out" : describeNetError(error);
      throw new ConnectError(`cannot connect to ${where}: ${reason}`);
    }
    if (options.credentials !== undefined) {
      try {
        await connection.#signIn(options.credentials);
      } catch (error) {
        connection.close();
        throw error;
      }
    }
    return connection;
  }

  /** AUTH first (SPEC §7): every mode then runs as the user. */
  async #signIn({ name, password }: Credentials): Promise<void> {
    await this.send(`AUTH ${quoteWord(name)} ${quoteWord(password)}`);
    const reply = await this.read();
    if (reply.kind === "err") throw new AuthRefusedError(reply);
  }

  /** Sends one request line (a LF is added). */
  async send(line: string): Promise<void> {
    await this.write(encoder.encode(line + "\n"));
  }

  /** Sends raw bytes: a pipelined batch of lines, or a FILE PUT payload. */
  async write(bytes: Uint8Array): Promise<void> {
    try {
      await writeAll(this.#conn, bytes);
    } catch (error) {
      throw new ConnectError(`connection to ${this.#where} lost: ${describeNetError(error)}`);
    }
  }

  /** Reads the next reply, or throws ConnectError (closed, timed out). */
  read(): Promise<ParsedReply> {
    return this.#guard(this.#replies.read());
  }

  /** Reads one reply line (a DATA body then follows through {@linkcode replies}). */
  readLine(): Promise<string> {
    return this.#guard(this.#replies.readLine());
  }

  /** Turns every failure of a read into a one-line ConnectError. */
  async #guard<T>(reading: Promise<T>): Promise<T> {
    try {
      return await reading;
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      if (error instanceof ConnectionClosedError) {
        // A TLS port answers a plain client's first line with an alert and the close.
        const hint = this.#tls ? "" : " (if it is a TLS port, add --tls)";
        throw new ConnectError(`${this.#where} closed the connection before replying${hint}`);
      }
      throw new ConnectError(`connection to ${this.#where} lost: ${describeNetError(error)}`);
    }
  }

  /** The reader, for streaming a DATA body. */
  get replies(): ReplyReader {
    return this.#replies;
  }

  /** Closes the connection; closing twice is harmless. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /** `using connection = await Connection.open(…)` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A TCP connection, or a TLS one whose handshake (and so the certificate check) is done. */
async function connect(options: ConnectOptions): Promise<Deno.TcpConn | Deno.TlsConn> {
  const { host: hostname, port } = options;
  if (options.tls === undefined) {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return conn;
  }
  const conn = await Deno.connectTls({ hostname, port, caCerts: options.tls.caCerts });
  try {
    await conn.handshake();
  } catch (error) {
    conn.close();
    throw new TlsError(error instanceof Error ? error.message : String(error));
  }
  return conn;
}

/** The TLS handshake failed: a certificate that does not verify, or a server that is not TLS. */
class TlsError extends Error {
  override name = "TlsError";
}

/**
 * `conn` as the reply reader reads it: each socket read waits at most
 * `timeoutMs`, like a socket timeout. It is on reads, not on each reply,
 * because a std deadline's timer cannot be cleared: one per reply kept the
 * timer of every reply of a pipelined run alive for the whole timeout, while
 * one read takes in many replies (200,000 piped ECHO lines, 2 runs each: a
 * deadline per reply 5.5-5.8 s and 395 MB; per read 2.5-2.8 s and 64-73 MB;
 * the former hand-made timer per reply, cleared, 3.6-5.8 s and 87-96 MB).
 */
function timedSource(conn: ByteSource, timeoutMs: number, where: string): ByteSource {
  return {
    read: (buffer) =>
      deadline(conn.read(buffer), timeoutMs).catch((error: unknown) => {
        if (!isTimeout(error)) throw error;
        throw new ConnectError(`no reply from ${where} within ${timeoutMs / 1000} s`);
      }),
  };
}

/** True for the rejection of a {@linkcode deadline} that ran out. */
function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === "TimeoutError";
}

function describeNetError(error: unknown): string {
  if (error instanceof TlsError) return `TLS: ${error.message}`;
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.NotCapable) return "network access is not granted (--allow-net)";
  if (error instanceof Error) return error.message.replace(/ \(os error \d+\)$/, "").toLowerCase();
  return String(error);
}
