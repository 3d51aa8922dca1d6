/**
 * The client side of the protocol: a connection that sends request lines and
 * reads replies with the same protocol module the server uses. Pipelining is
 * natural: send many, read replies in order.
 */
import {
  ConnectionClosedError,
  type ParsedReply,
  quoteWord,
  ReplyReader,
} from "../protocol/mod.ts";

const encoder = new TextEncoder();

/** Connecting or waiting for a reply failed (exit code 3 in the client). */
export class ConnectError extends Error {
  override name = "ConnectError";
}

/** Options of {@linkcode Connection.open}. */
export interface ConnectOptions {
  host: string;
  port: number;
  /** Milliseconds to connect and to wait for each reply; 0 waits forever. */
  timeoutMs: number;
}

/** One client connection to a switchboard server. */
export class Connection {
  readonly #conn: Deno.TcpConn;
  readonly #replies: ReplyReader;
  readonly #timeoutMs: number;
  readonly #where: string;

  private constructor(conn: Deno.TcpConn, options: ConnectOptions) {
    this.#conn = conn;
    this.#replies = new ReplyReader(conn);
    this.#timeoutMs = options.timeoutMs;
    this.#where = `${options.host}:${options.port}`;
  }

  /** Connects, or throws ConnectError with a one-line reason. */
  static async open(options: ConnectOptions): Promise<Connection> {
    const where = `${options.host}:${options.port}`;
    try {
      const conn = await withTimeout(
        Deno.connect({ hostname: options.host, port: options.port }),
        options.timeoutMs,
        () => new ConnectError(`cannot connect to ${where}: timed out`),
      );
      conn.setNoDelay(true);
      return new Connection(conn, options);
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      throw new ConnectError(`cannot connect to ${where}: ${describeNetError(error)}`);
    }
  }

  /** Sends one request line (a LF is added). */
  async send(line: string): Promise<void> {
    await this.write(encoder.encode(line + "\n"));
  }

  /** Sends raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    try {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
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

  /** Applies the reply timeout and turns every failure into a one-line ConnectError. */
  async #guard<T>(reading: Promise<T>): Promise<T> {
    try {
      return await withTimeout(
        reading,
        this.#timeoutMs,
        () => new ConnectError(`no reply from ${this.#where} within ${this.#timeoutMs / 1000} s`),
      );
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      if (error instanceof ConnectionClosedError) {
        throw new ConnectError(`${this.#where} closed the connection before replying`);
      }
      throw new ConnectError(`connection to ${this.#where} lost: ${describeNetError(error)}`);
    }
  }

  /** Sends a request built from words (quoted as needed) and reads its reply. */
  async request(words: readonly string[]): Promise<ParsedReply> {
    await this.send(words.map(quoteWord).join(" "));
    return await this.read();
  }

  /** The reader, for streaming a DATA body. */
  get replies(): ReplyReader {
    return this.#replies;
  }

  /** No more requests; replies still arrive. */
  async closeWrite(): Promise<void> {
    await this.#conn.closeWrite();
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Races `promise` against a timer; 0 means no timeout. */
async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  if (ms <= 0) return await promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(onTimeout()), ms)
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeNetError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.NotCapable) return "network access is not granted (--allow-net)";
  if (error instanceof Error) return error.message.replace(/ \(os error \d+\)$/, "").toLowerCase();
  return String(error);
}
