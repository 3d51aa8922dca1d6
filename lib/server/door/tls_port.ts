/**
 * The TLS port (docs/security.md#running-it-on-a-network, `--tls-cert`/`--tls-key`): each
 * accepted TCP connection's handshake, bounded in time and in number, and
 * only connections whose handshake finished go on to the address lists
 * and the Manager, so that a silent or plain-text peer never holds a queue
 * place.
 *
 * Why `Deno.listen` and `node:tls` and not `Deno.listenTls`: a
 * `Deno.TlsConn` closed before its handshake finished does not close its
 * socket. Deno's TLS stream (rustls-tokio-stream 0.8, `impl Drop for
 * TlsStream`, the `Handshaking` branch) hands the handshake to a task that
 * holds the TCP socket and waits, with no deadline, until the peer sends
 * or hangs up; a peer that does neither kept its descriptor for as long as
 * it stayed: 4,200 silent connections held all 4,096 descriptors of a
 * server under `prlimit --nofile=4096` for a minute
 * (tests/faults/tls_peers_test.ts plays such peers).
 * `Deno.startTls`, which would upgrade a plain connection, is client-side
 * only. So the port accepts plain TCP, and `node:tls` runs the protocol
 * over the `Deno.TcpConn` (tls_conn.ts): at the deadline, or when the cap
 * drops a handshake, closing that connection closes the descriptor at
 * once and the peer sees the close. Measured (200 silent peers, 2 s
 * deadline): with `Deno.listenTls` the server held 200 extra descriptors
 * until the peers left; here every peer saw the close at 2.2 s and the
 * count was back to its baseline.
 *
 * Why not `node:tls`'s own listener (`node:net`), whose sockets are native:
 * in Deno 2.9.6 a `node:net` server that once fails an accept
 * for want of descriptors never accepts again (300 connections against a
 * server limited to 128 descriptors: the rest, and every later one, were
 * never accepted). The plain listener keeps the accept loop of
 * acceptor.ts, which pauses and resumes, and `--backlog` the same on both ports.
 *
 * What it costs: `node:tls` runs on Node's native TCP handle over a second
 * descriptor of the connection (native_socket.ts), or over a JS stream
 * (tls_conn.ts) where that handle cannot be made. S1 over TLS (bench TLS
 * row, 50 clients, PING) keeps 0.49-0.57× plain per server core (five
 * runs, 2026-12-06), against 0.27-0.35× when every record went through
 * Node streams and 0.75× for `Deno.listenTls`.
 * What it gives besides: a new certificate (SIGHUP) serves the next
 * handshake without listening again, so a reload refuses no connection.
 */
import type { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import type { TlsFiles } from "../../security/tls_files.ts";
import { TcpStream, TlsConn } from "./tls_conn.ts";
import { openNativeSocket } from "./native_socket.ts";
import { closeQuietly } from "../../io.ts";
import type { DoorConn } from "./proxy_headers.ts";

/**
 * Handshakes in progress at once. Each holds a descriptor and a few KiB
 * until it finishes or its deadline passes. When the cap is reached the
 * oldest one is dropped (its socket closed), not the newcomer: a flood of
 * silent connections then has to outpace real handshakes, which take
 * milliseconds, instead of merely filling the cap once.
 */
export const MAX_HANDSHAKES = 1024;

/**
 * What stands for "no deadline" (`--request-timeout 0`): Node's TLS socket
 * has a handshake timer of its own, 120 s unless told otherwise, and the
 * longest a timer can wait is 2^31 - 1 ms (24.8 days).
 */
const NO_DEADLINE_MS = 2 ** 31 - 1;

/**
 * How long a failed handshake's connection may take to send the peer our
 * TLS alert before it is closed anyway.
 */
const ALERT_LINGER_MS = 1000;

/**
 * The record a failed handshake ends with: a fatal `handshake_failure`
 * alert (RFC 8446 §6), in the clear as every alert before the handshake
 * is. A plain-text client reading it sees that it spoke to a TLS port.
 */
const HANDSHAKE_FAILURE_ALERT = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);

/** Why a handshake did not finish. */
export type HandshakeFailure = "failed" | "timed out" | "dropped";

/** Options of {@linkcode Handshakes} and of {@linkcode TlsPort.listen}. */
export interface HandshakeOptions {
  /** `--request-timeout` in ms: a handshake not done by then is closed; 0 never. */
  timeoutMs: number;
  /** Handshakes at once; default {@linkcode MAX_HANDSHAKES}. */
  max?: number;
  /** Called once per handshake that did not finish (counted and logged by the door). */
  onFailure: (why: HandshakeFailure, error: unknown, remote: Deno.NetAddr) => void;
}

/** One handshake in progress, as {@linkcode Handshakes.start} returns it. */
export interface Handshake {
  /** The handshake finished: true if it still counts (not timed out or dropped meanwhile). */
  finished(): boolean;
  /** The handshake failed with `error` (reported once, whatever comes after). */
  failed(error: unknown): void;
}

/** The handshakes in progress, each with its deadline, at most `max` at once. */
export class Handshakes {
  readonly #options: HandshakeOptions;
  readonly #max: number;
  /** In start order (a Map keeps it), so the oldest is the first key; the value drops it. */
  readonly #pending = new Map<Handshake, () => void>();

  constructor(options: HandshakeOptions) {
    this.#options = options;
    this.#max = options.max ?? MAX_HANDSHAKES;
  }

  /** Handshakes in progress now. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Starts the clock of one handshake. `abort` closes its socket (called
   * with the reason: at the deadline, when the cap drops it, on
   * {@linkcode closeAll}, or when it failed); the caller reports how the
   * handshake ended through the returned object.
   */
  start(remote: Deno.NetAddr, abort: (why: HandshakeFailure) => void): Handshake {
    if (this.#pending.size >= this.#max) this.#pending.values().next().value?.();
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      this.#pending.delete(handshake);
      return true;
    };
    const fail = (why: HandshakeFailure, error: unknown) => {
      if (!settle()) return;
      abort(why);
      this.#options.onFailure(why, error, remote);
    };
    const handshake: Handshake = {
      finished: settle,
      failed: (error) => fail("failed", error),
    };
    const timeoutMs = this.#options.timeoutMs;
    const timer = timeoutMs > 0
      ? setTimeout(
        () => fail("timed out", new Deno.errors.TimedOut(`no handshake in ${timeoutMs} ms`)),
        timeoutMs,
      )
      : undefined;
    this.#pending.set(
      handshake,
      () => fail("dropped", new Error(`more than ${this.#max} handshakes at once`)),
    );
    return handshake;
  }

  /** Closes every handshake in progress (the server is stopping). */
  closeAll(): void {
    for (const drop of [...this.#pending.values()]) drop();
  }
}

/** Options of {@linkcode TlsPort}. */
export interface TlsPortOptions extends HandshakeOptions {
  /**
   * Takes each connection whose handshake finished, with its client's
   * address (a PROXY header's, or the connection's own).
   */
  onSecure: (conn: TlsConn, remote: Deno.NetAddr) => void;
}

/**
 * The handshakes of the TLS port's connections, with a certificate and key
 * that can be replaced ({@linkcode replace}) while the server runs.
 */
export class TlsPort {
  readonly #handshakes: Handshakes;
  readonly #onSecure: (conn: TlsConn, remote: Deno.NetAddr) => void;
  #context: SecureContext;

  constructor(files: TlsFiles, options: TlsPortOptions) {
    this.#context = secureContext(files);
    this.#handshakes = new Handshakes(options);
    this.#onSecure = options.onSecure;
  }

  /** Handshakes in progress now. */
  get handshaking(): number {
    return this.#handshakes.size;
  }

  /** Serves `files` from the next handshake on; connections already made keep their session. */
  replace(files: TlsFiles): void {
    this.#context = secureContext(files);
  }

  /** Closes the handshakes in progress (the server is stopping). */
  closeAll(): void {
    this.#handshakes.closeAll();
  }

  /**
   * Runs the handshake of `conn`, an accepted TCP connection (or one whose
   * PROXY header was read: the bytes after it are the handshake's first);
   * hands it on if it finishes in time. Returns at once. `remote` is the
   * client (a PROXY header's); default the connection's own address.
   */
  handshake(conn: DoorConn, options: { remote?: Deno.NetAddr } = {}): void {
    const remote = options.remote ?? conn.remoteAddr as Deno.NetAddr;
    // Node's native handle where one can be made, else the JS stream:
    // native_socket.ts says why and what each costs.
    const native = openNativeSocket(conn);
    const stream = native === undefined ? new TcpStream(conn) : undefined;
    // Duplex in shape, not in class: tls_conn.ts says why.
    const under = native?.socket ?? stream as unknown as Duplex;
    // An error event without a listener would end the process.
    under.on("error", () => {});
    const tls = new TLSSocket(
      under,
      {
        isServer: true,
        secureContext: this.#context,
        // Our deadline is the Handshakes one; Node's own timer must not fire first.
        handshakeTimeout: NO_DEADLINE_MS,
      } as ConstructorParameters<typeof TLSSocket>[1],
    );
    const handshake = this.#handshakes.start(remote, (why) => {
      // The native socket closes its descriptor here; the JS stream is held
      // and leaves `conn` to us.
      tls.destroy();
      under.destroy();
      if (why === "failed") void sendAlert(conn);
      else closeQuietly(conn);
    });
    const failed = (error: unknown) => handshake.failed(error);
    tls.on("error", failed);
    tls.once("close", () => failed(new Deno.errors.UnexpectedEof("closed during the handshake")));
    // The TLS socket does not notice a peer that hangs up mid-handshake. The
    // check waits a turn: a handshake whose last bytes came with the close finishes first.
    const peerLeft = () => {
      setTimeout(() => failed(new Deno.errors.UnexpectedEof("the peer left during the handshake")));
    };
    stream?.once("end", peerLeft);
    native?.watchEnd(peerLeft);
    tls.once("secure", () => {
      tls.off("error", failed);
      if (stream !== undefined) stream.held = false;
      // The native socket has a descriptor of its own: `conn`'s goes with the TLS socket.
      else tls.once("close", () => closeQuietly(conn));
      if (handshake.finished()) {
        const addresses = {
          remote: conn.remoteAddr as Deno.NetAddr,
          local: conn.localAddr as Deno.NetAddr,
          tcp: conn,
        };
        this.#onSecure(new TlsConn(tls, native ?? stream!, addresses), remote);
      }
    });
  }
}

/** Sends the alert, then closes `conn`: within {@linkcode ALERT_LINGER_MS} whatever the peer does. */
async function sendAlert(conn: DoorConn): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), ALERT_LINGER_MS);
  try {
    await conn.write(HANDSHAKE_FAILURE_ALERT);
  } catch {
    // The peer is gone, or the linger closed it.
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

function secureContext(files: TlsFiles): SecureContext {
  return createSecureContext({ cert: files.cert, key: files.key });
}
