/**
 * The TLS port (docs/security.md, `--tls-cert`/`--tls-key`): a TLS listener whose
 * certificate can be replaced while the server runs (SIGHUP), and the
 * handshakes of new connections, bounded in time and in number, before any
 * of them reaches the Manager.
 *
 * Why close and listen again to replace the certificate: `Deno.listenTls`
 * takes its certificate once and has no call to change it, and
 * `Deno.startTls`, which could upgrade a plain accepted connection with
 * whatever certificate is current, is client-side only in Deno 2.9.6.
 * `node:tls` can upgrade a `node:net` socket with a per-connection
 * context, but measured on the shared 2-core machine (echo of `PING`, 50
 * connections, server on one core) it served about 22k requests per server
 * core against 38k for `Deno.listenTls` and 55k for plain TCP, and it
 * would put every byte of the TLS port through Node streams. Closing and
 * listening again takes about 0.2 ms; a connection that arrives in that
 * window is refused, and one already in the old listener's backlog is
 * reset. Measured: 8 clients connecting back to back over TLS (about 90
 * connections a second) through 50 reloads 40 ms apart lost 7 and 12 of
 * about 230 connections (refused or reset), some 0.2 per reload; so the
 * server listens again only when the certificate or key really changed
 * (security_files.ts), and a SIGHUP for the users file costs nothing here.
 *
 * Accepting is lazy in Deno: `accept()` returns as soon as TCP is
 * connected and the handshake runs on the first read or write, or on
 * `handshake()`. So {@linkcode Handshakes} runs it explicitly, with the
 * `--request-timeout` deadline and a cap on how many run at once, and a
 * connection reaches the address lists and the Manager only once it is
 * done: a silent or plain-text peer never holds a queue place.
 *
 * A limit of Deno 2.9.6 that no code of ours can lift: a TLS connection
 * closed before its handshake finished keeps its socket open inside Deno
 * (rustls-tokio-stream finishes the handshake in a background task, with
 * no deadline) until the peer sends something or hangs up. The peer then
 * gets the TLS alert and the close; a peer that never does either keeps
 * one descriptor of the server's, though no handshake slot, no queue place
 * and no memory of ours. Measured: a silent peer saw no FIN for as long as
 * it stayed silent, and its close at once freed the socket.
 */
import type { TlsFiles } from "../../security/tls_files.ts";
import { closeQuietly } from "../../io.ts";

/**
 * Handshakes in progress at once. Each holds a descriptor and a few KiB
 * until it finishes or its deadline passes. When the cap is reached the
 * oldest one is dropped, not the newcomer: a flood of silent connections
 * then has to outpace real handshakes, which take milliseconds, instead of
 * merely filling the cap once.
 */
export const MAX_HANDSHAKES = 1024;

/** Where the TLS port listens. */
export interface TlsAddress {
  hostname: string;
  port: number;
}

/**
 * A TLS listener whose certificate and key can be replaced
 * ({@linkcode replace}) while an accept loop runs on it: the loop's pending
 * accept moves to the new listener instead of ending.
 */
export class TlsPort {
  #files: TlsFiles;
  #listener: Deno.TlsListener | undefined;
  readonly #hostname: string;
  readonly #port: number;
  #closed = false;

  private constructor(listener: Deno.TlsListener, hostname: string, files: TlsFiles) {
    this.#listener = listener;
    this.#hostname = hostname;
    // Port 0 picked a port: listening again must take the same one.
    this.#port = listener.addr.port;
    this.#files = files;
  }

  /** Listens on `address` with `files`; throws Deno's error (address in use, permission). */
  static listen(address: TlsAddress, files: TlsFiles): TlsPort {
    return new TlsPort(listenTls(address.hostname, address.port, files), address.hostname, files);
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return { transport: "tcp", hostname: this.#hostname, port: this.#port };
  }

  /**
   * The next connection, its handshake not yet run. A listener replaced
   * while this waits hands the wait on to the new one. If listening again
   * failed, each call tries once more and throws Deno's error, so the
   * accept loop (acceptor.ts) pauses, warns once, and retries.
   */
  async accept(): Promise<Deno.TlsConn> {
    for (;;) {
      if (this.#closed) throw new Deno.errors.BadResource("the TLS port is closed");
      const listener = this.#listener ??= listenTls(this.#hostname, this.#port, this.#files);
      try {
        return await listener.accept();
      } catch (error) {
        // The listener was replaced under this accept: wait on the new one.
        if (!this.#closed && listener !== this.#listener) continue;
        throw error;
      }
    }
  }

  /**
   * Serves `files` from now on: closes the listener and listens again on the
   * same address. Connections already accepted keep their session. If the
   * address cannot be taken again (another process took it in between),
   * {@linkcode accept} keeps trying.
   */
  replace(files: TlsFiles): void {
    if (this.#closed) return;
    this.#files = files;
    const old = this.#listener;
    this.#listener = undefined;
    old?.close();
    try {
      this.#listener = listenTls(this.#hostname, this.#port, files);
    } catch {
      // accept() tries again and reports the error through the accept loop.
    }
  }

  /** Stops listening for good. */
  close(): void {
    this.#closed = true;
    closeQuietly(this.#listener);
  }
}

function listenTls(hostname: string, port: number, files: TlsFiles): Deno.TlsListener {
  return Deno.listenTls({ hostname, port, cert: files.cert, key: files.key });
}

/** Why a handshake did not finish. */
export type HandshakeFailure = "failed" | "timed out" | "dropped";

/** Options of {@linkcode Handshakes}. */
export interface HandshakeOptions {
  /** `--request-timeout` in ms: a handshake not done by then is closed; 0 never. */
  timeoutMs: number;
  /** Handshakes at once; default {@linkcode MAX_HANDSHAKES}. */
  max?: number;
  /** Called once per handshake that did not finish (counted and logged by the server). */
  onFailure: (why: HandshakeFailure, error: unknown, conn: Deno.TlsConn) => void;
}

/** The handshakes in progress, each with its deadline, at most `max` at once. */
export class Handshakes {
  readonly #options: HandshakeOptions;
  readonly #max: number;
  /** In start order (a Map keeps it), so the oldest is the first key; the value drops it. */
  readonly #pending = new Map<Deno.TlsConn, () => void>();

  constructor(options: HandshakeOptions) {
    this.#options = options;
    this.#max = options.max ?? MAX_HANDSHAKES;
  }

  /** Handshakes in progress now. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Runs `conn`'s handshake. Resolves true when it finished; false when it
   * failed (a plain-text client, a client that rejects our certificate),
   * timed out, or was dropped for a newer one, and then `conn` is closed.
   * Never rejects.
   */
  async run(conn: Deno.TlsConn): Promise<boolean> {
    if (this.#pending.size >= this.#max) this.#pending.values().next().value?.();
    let why: HandshakeFailure = "failed";
    const stop = (reason: HandshakeFailure) => {
      why = reason;
      closeQuietly(conn);
    };
    const timeoutMs = this.#options.timeoutMs;
    const timer = timeoutMs > 0 ? setTimeout(() => stop("timed out"), timeoutMs) : undefined;
    this.#pending.set(conn, () => stop("dropped"));
    try {
      await conn.handshake();
      return true;
    } catch (error) {
      closeQuietly(conn);
      this.#options.onFailure(why, error, conn);
      return false;
    } finally {
      clearTimeout(timer);
      this.#pending.delete(conn);
    }
  }

  /** Closes every handshake in progress (the server is stopping). */
  closeAll(): void {
    for (const drop of [...this.#pending.values()]) drop();
  }
}
