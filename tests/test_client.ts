/**
 * A protocol client for tests, built on lib's ReplyReader, over TCP, TLS or
 * from another loopback address: send lines or bytes, read parsed replies,
 * each read with a deadline.
 */
import { AssertionError } from "@std/assert";
import { writeAll } from "../lib/io.ts";
import { type ParsedReply, ReplyReader } from "../lib/protocol/mod.ts";
import { within } from "./deadlines.ts";
import { NodeConn } from "./node_conn.ts";
import { concat } from "./test_data.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * How long a read waits for a reply by default: far longer than any reply
 * takes on a loaded machine (a 2-core machine running the suite in
 * parallel beside other work delayed a 2 s COUNT past 5 s), short enough
 * that a lost server fails the test within seconds, never hangs CI. A test
 * that awaits something slow passes `timeoutMs`.
 */
export const REPLY_TIMEOUT_MS = 15_000;

/** What a test client needs of its connection: a Deno.Conn, or a node socket made to look like one. */
export interface TestConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** A protocol client for tests: send lines or bytes, read parsed replies. */
export class TestClient {
  readonly conn: TestConn;
  readonly replies: ReplyReader;
  /** The last request line sent, for the message of a read that times out. */
  #lastRequest = "(nothing sent yet)";
  #repliesRead = 0;

  private constructor(conn: TestConn) {
    this.conn = conn;
    this.replies = new ReplyReader(conn);
  }

  /** Connects to 127.0.0.1. */
  static async connect(port: number): Promise<TestClient> {
    return new TestClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Connects to `hostname` (e.g. `::1`) instead of 127.0.0.1. */
  static async connectTo(hostname: string, port: number): Promise<TestClient> {
    return new TestClient(await Deno.connect({ hostname, port }));
  }

  /** Connects with TLS, trusting `caCert` (PEM), to `hostname` (default localhost). */
  static async connectTls(
    port: number,
    caCert: string,
    hostname = "localhost",
  ): Promise<TestClient> {
    const conn = await Deno.connectTls({ hostname, port, caCerts: [caCert] });
    await conn.handshake();
    return new TestClient(conn);
  }

  /**
   * Connects with TLS after sending `preface` in clear on the TCP connection
   * (a PROXY header, as a balancer in front of a TLS port sends it).
   */
  static async connectTlsAfter(
    port: number,
    preface: Uint8Array,
    caCert: string,
  ): Promise<TestClient> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(tcp, preface);
    const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [caCert] });
    await conn.handshake();
    return new TestClient(conn);
  }

  /**
   * Connects to 127.0.0.1 from `localAddress` (e.g. 127.0.0.2, which the
   * server must treat as a remote peer). Deno.connect cannot choose its
   * source address; node:net can.
   */
  static async connectFrom(port: number, localAddress: string): Promise<TestClient> {
    return new TestClient(await NodeConn.connect(port, localAddress));
  }

  /** Sends `line` + LF. */
  async send(line: string): Promise<void> {
    await this.write(encoder.encode(line + "\n"));
  }

  /** Sends raw bytes. */
  async write(bytes: Uint8Array | string): Promise<void> {
    const raw = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
    const end = raw.indexOf(0x0a);
    this.#lastRequest = JSON.stringify(
      decoder.decode(raw.subarray(0, Math.min(end === -1 ? raw.length : end, 80))),
    );
    await writeAll(this.conn, raw);
  }

  /**
   * Reads one reply; throws, saying what it waited for, if none comes within
   * `timeoutMs` (default {@linkcode REPLY_TIMEOUT_MS}) — a test whose server
   * is gone fails instead of hanging.
   */
  async read(options: { timeoutMs?: number } = {}): Promise<ParsedReply> {
    const timeoutMs = options.timeoutMs ?? REPLY_TIMEOUT_MS;
    const reply = await within(
      this.replies.read(),
      timeoutMs,
      () =>
        `reply ${this.#repliesRead + 1} on this connection; ` +
        `the last request sent began ${this.#lastRequest}`,
    );
    this.#repliesRead++;
    return reply;
  }

  /** Reads one reply (within `timeoutMs`, see {@linkcode read}) rendered as {@linkcode render} does. */
  async readText(options: { timeoutMs?: number } = {}): Promise<string> {
    return render(await this.read(options));
  }

  /** `FILE PUT name size` and the bytes, then the rendered reply (within `timeoutMs`, see {@linkcode read}). */
  async put(
    name: string,
    bytes: Uint8Array | string,
    options: { timeoutMs?: number } = {},
  ): Promise<string> {
    const body = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
    await this.write(concat(encoder.encode(`FILE PUT ${name} ${body.length}\n`), body));
    return await this.readText(options);
  }

  /** Sends a line and returns the rendered reply (within `timeoutMs`, see {@linkcode read}). */
  async ask(line: string, options: { timeoutMs?: number } = {}): Promise<string> {
    await this.send(line);
    return await this.readText(options);
  }

  /**
   * Resolves once the server has closed the connection (reading to EOF and
   * discarding what arrives; a reset counts as closed). Throws after
   * `timeoutMs` if it is still open, with the last bytes that arrived.
   */
  async closedByServer(timeoutMs = 10_000): Promise<void> {
    const buf = new Uint8Array(1024);
    let seen = "";
    const drain = (async () => {
      try {
        for (let n = await this.conn.read(buf); n !== null; n = await this.conn.read(buf)) {
          seen = (seen + decoder.decode(buf.subarray(0, n))).slice(-200);
        }
      } catch {
        // a reset counts as closed
      }
    })();
    try {
      await within(drain, timeoutMs, () => "the server to close the connection");
    } catch {
      this.close();
      throw new Error(
        `expected the server to close the connection within ${timeoutMs} ms; ` +
          `it is still open, and the last bytes it sent were ${JSON.stringify(seen)}`,
      );
    }
  }

  /** Half-close: no more requests, replies still come. */
  async closeWrite(): Promise<void> {
    await this.conn.closeWrite();
  }

  /** Closes the connection (again is harmless). */
  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Throws, showing both, unless `actual` starts with `prefix`. */
export function assertStartsWith(actual: string, prefix: string, message?: string): void {
  if (actual.startsWith(prefix)) return;
  throw new AssertionError(
    `${message ? message + ": " : ""}expected a string starting with ${
      JSON.stringify(prefix)
    }, got ${JSON.stringify(actual)}`,
  );
}

/** `OK text`, `ERR code message`, or `DATA n` + LF + body text. */
export function render(reply: ParsedReply): string {
  switch (reply.kind) {
    case "ok":
      return reply.text === undefined ? "OK" : `OK ${reply.text}`;
    case "err":
      return `ERR ${reply.code} ${reply.message}`;
    case "data":
      return `DATA ${reply.body.length}\n${decoder.decode(reply.body)}`;
  }
}
