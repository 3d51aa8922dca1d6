/**
 * The client side of the protocol: a connection that sends request lines and
 * reads replies with the same protocol module the server uses. Pipelining is
 * natural: send many, read replies in order. Every failure of the network
 * (refused, reset, closed, timed out, a certificate that does not verify)
 * becomes one {@linkcode ConnectError} with a one-line reason, in the
 * server's own words where it sent any. With TLS and credentials (docs/client.md
 * `--tls`, `--user`), the connection is encrypted and signed in before any
 * mode sends its first request.
 *
 * It also watches a connection nobody is waiting on (the shell at its
 * prompt), so that a server closing it is seen at once, not at the next
 * command; that watch carries no timeout, since a person may think for as
 * long as they like.
 */
import { deadline } from "@std/async/deadline";
import { type ByteSource, closeQuietly, writeAll } from "../io.ts";
import {
  ConnectionClosedError,
  type ParsedReply,
  ProtocolError,
  quoteWord,
  ReplyReader,
} from "../protocol/mod.ts";
import type { Credentials } from "./credentials.ts";
import { type NoticeLine, waitingReason, withWaitNotice } from "./waiting.ts";

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
  /**
   * No reply deadline until the first reply: on a full server the
   * connection waits in the queue for as long as it takes (top, which says
   * so on its screen; docs/client.md#top). `timeoutMs` applies from then on.
   */
  waitInQueue?: boolean | undefined;
  /**
   * Where the wait notice goes while the AUTH reply is late (a full server
   * queues the connection): the terminal's, as every command's reply has.
   */
  notice?: NoticeLine | undefined;
}

/** What the server sent while nobody was waiting for a reply (see {@linkcode Connection.unasked}). */
export interface Unasked {
  /** The line it sent first (`ERR shutdown …` before closing), if any. */
  line?: string;
  /** It closed the connection (at once, or within the grace time after its line). */
  closed: boolean;
}

/** One client connection to a switchboard server. */
export class Connection {
  readonly #conn: Deno.TcpConn | Deno.TlsConn;
  readonly #replies: ReplyReader;
  readonly #where: string;
  readonly #tls: boolean;
  readonly #timeoutMs: number;
  readonly #waitInQueue: boolean;
  /** A reply line being read while no request waits (the shell's prompt); the next read takes it. */
  #early: Promise<string> | undefined;
  /** Socket reads started while true have no deadline: nobody is waiting for a reply. */
  #idle = false;
  #answered = false;
  /** The first bytes the server sent (up to 2), to tell a TLS alert from a reply line. */
  #firstBytes: Uint8Array | undefined;
  #closed = false;
  /** `performance.now()` of the last byte received; -Infinity until one is. */
  #lastByteAt = -Infinity;

  private constructor(conn: Deno.TcpConn | Deno.TlsConn, options: ConnectOptions) {
    this.#conn = conn;
    this.#where = `${options.host}:${options.port}`;
    this.#tls = options.tls !== undefined;
    this.#timeoutMs = options.timeoutMs;
    this.#waitInQueue = options.waitInQueue ?? false;
    this.#replies = new ReplyReader(this.#countedSource(conn));
  }

  /** `host:port`, as messages name the server. */
  get where(): string {
    return this.#where;
  }

  /**
   * A reply has arrived on this connection, so it is running, not queued
   * (lib/client/waiting.ts says why that is certain).
   */
  get answered(): boolean {
    return this.#answered;
  }

  /**
   * `performance.now()` when the last byte arrived (-Infinity before the
   * first): the wait notice counts from it.
   */
  get lastByteAt(): number {
    return this.#lastByteAt;
  }

  /** This side closed the connection; nothing more can be sent or read. */
  get closed(): boolean {
    return this.#closed;
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
        const signingIn = connection.#signIn(options.credentials);
        await (options.notice === undefined ? signingIn : withWaitNotice(signingIn, {
          printer: options.notice,
          activity: connection,
        }));
      } catch (error) {
        connection.close();
        throw error;
      }
    }
    return connection;
  }

  /** AUTH first (docs/client.md): every mode then runs as the user. */
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
  async read(): Promise<ParsedReply> {
    const line = await this.readLine();
    return await this.#guard(this.#replies.replyFrom(line), "in the middle of a reply");
  }

  /** Reads one reply line (a DATA body then follows through {@linkcode body}). */
  async readLine(): Promise<string> {
    const early = this.#early;
    this.#early = undefined;
    this.#idle = false;
    const line = await this.#guard(
      early === undefined ? this.#replies.readLine() : this.#limited(early),
      "before replying",
    );
    this.#answered = true;
    return line;
  }

  /** Streams a DATA body of `size` bytes whose header {@linkcode readLine} returned. */
  async *body(size: number): AsyncGenerator<Uint8Array> {
    const chunks = this.#replies.body(size);
    for (;;) {
      const next = await this.#guard(chunks.next(), "in the middle of a reply");
      if (next.done) return;
      yield next.value;
    }
  }

  /**
   * Resolves when the server sends a line or closes while no request is
   * waiting (the shell at its prompt); it does not consume the line: a
   * request sent meanwhile reads it as its reply, and
   * {@linkcode unasked} reads it otherwise.
   */
  watch(): Promise<void> {
    if (this.#early === undefined) {
      this.#idle = true;
      const early = this.#replies.readLine();
      early.catch(() => {}); // handled by whoever takes it
      this.#early = early;
    }
    return this.#early.then(() => {}, () => {});
  }

  /**
   * After {@linkcode watch} settled with no request sent: the line the
   * server sent unasked, if any, and whether it closed the connection
   * (at once, or within `graceMs` after that line). The connection is
   * closed afterwards: an unasked line would be taken for the next reply.
   */
  async unasked(graceMs: number): Promise<Unasked> {
    const early = this.#early ?? Promise.reject(new ConnectionClosedError("nothing watched"));
    this.#early = undefined;
    const line = await early.catch(() => undefined);
    if (line === undefined) {
      this.close();
      return { closed: true };
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const closed = await Promise.race([
      this.#replies.readLine().then(() => false, () => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
    ]);
    clearTimeout(timer);
    this.close();
    return { line, closed };
  }

  /** `reading` (a line the idle watch started) under the reply timeout. */
  #limited<T>(reading: Promise<T>): Promise<T> {
    if (this.#timeoutMs <= 0) return reading;
    return deadline(reading, this.#timeoutMs).catch((error: unknown) => {
      if (!isTimeout(error)) throw error;
      throw new ConnectError(this.#noReply());
    });
  }

  /** Turns every failure of a read into a one-line ConnectError; `when` says how far the reply got. */
  async #guard<T>(reading: Promise<T>, when: string): Promise<T> {
    try {
      return await reading;
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      if (error instanceof ConnectionClosedError) {
        // A TLS port answers a plain client's first line with an alert record (never a
        // line) and the close. Only that is a reason to suggest --tls: a server that died
        // mid-request, or one that has answered before, is no TLS port.
        const hint = when === "before replying" && !this.#tls && !this.#answered &&
            looksLikeTls(this.#firstBytes)
          ? " (it answered in TLS: add --tls)"
          : "";
        throw new ConnectError(`${this.#where} closed the connection ${when}${hint}`);
      }
      if (error instanceof ProtocolError && error.code === "too-large") {
        // Only FILE GET answers with a body this large, and `get` streams it to disk.
        throw new ConnectError(`${error.message}; for a file, use get <name> [local]`);
      }
      throw new ConnectError(`connection to ${this.#where} lost: ${describeNetError(error)}`);
    }
  }

  /** The timeout's message, true whether the server queued us or the request is slow. */
  #noReply(): string {
    const seconds = this.#timeoutMs / 1000;
    return `no reply from ${this.#where} within ${seconds} s (${waitingReason(this.#answered)})`;
  }

  /** Closes the connection; closing twice is harmless. */
  close(): void {
    this.#closed = true;
    closeQuietly(this.#conn);
  }

  /** `using connection = await Connection.open(…)` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `conn` as the reply reader reads it: timed (see {@linkcode #timedSource}), each byte noted. */
  #countedSource(conn: ByteSource): ByteSource {
    const source = this.#timeoutMs > 0 ? this.#timedSource(conn) : conn;
    return {
      read: async (buffer) => {
        const n = await source.read(buffer);
        if (n !== null && n > 0) {
          this.#lastByteAt = performance.now();
          this.#firstBytes ??= buffer.slice(0, Math.min(n, 2));
        }
        return n;
      },
    };
  }

  /**
   * `conn` as the reply reader reads it: each socket read waits at most the
   * timeout, like a socket timeout, except while idle (the watch of a shell
   * at its prompt) and, with `waitInQueue`, before the first reply. It is on reads, not on each reply, because a std
   * deadline's timer cannot be cleared: one per reply kept the timer of
   * every reply of a pipelined run alive for the whole timeout, while one
   * read takes in many replies (200,000 piped ECHO lines, 2 runs each: a
   * deadline per reply 5.5-5.8 s and 395 MB; per read 2.5-2.8 s and 64-73
   * MB; the former hand-made timer per reply, cleared, 3.6-5.8 s and 87-96 MB).
   */
  #timedSource(conn: ByteSource): ByteSource {
    return {
      read: (buffer) => {
        if (this.#idle || (this.#waitInQueue && !this.#answered)) return conn.read(buffer);
        return deadline(conn.read(buffer), this.#timeoutMs).catch((error: unknown) => {
          if (!isTimeout(error)) throw error;
          throw new ConnectError(this.#noReply());
        });
      },
    };
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

/**
 * A TLS record's first two bytes: its type (0x15 alert, 0x16 handshake)
 * and the major version 3, which no reply line starts with.
 */
function looksLikeTls(bytes: Uint8Array | undefined): boolean {
  return bytes !== undefined && (bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03;
}

/**
 * What the TLS library said, in plain words where a newcomer is likely to
 * meet it: a certificate that is its own CA (`openssl req -x509`), which
 * TLS clients refuse as a server's certificate.
 */
function tlsReason(message: string): string {
  if (!/CaUsedAsEndEntity/.test(message)) return message;
  return "the server's certificate is a CA certificate, which clients refuse as a server's own " +
    "(a plain openssl req -x509 makes one); give the server a certificate signed by a CA and " +
    "pass that CA with --cacert (docs/security.md#a-certificate-for-a-private-network)";
}

/** The TLS handshake failed: a certificate that does not verify, or a server that is not TLS. */
class TlsError extends Error {
  override name = "TlsError";
}

/** True for the rejection of a {@linkcode deadline} that ran out. */
function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === "TimeoutError";
}

function describeNetError(error: unknown): string {
  if (error instanceof TlsError) return `TLS: ${tlsReason(error.message)}`;
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.NotCapable) return "network access is not granted (--allow-net)";
  // The text as the system or the server gave it: never re-cased (docs/client.md, byte-exact).
  if (error instanceof Error) return error.message.replace(/ \(os error \d+\)$/, "");
  return String(error);
}
