/**
 * The door (docs/security.md, docs/protocol.md#admission-the-queue-and-its-limits): what every accepted connection passes before the
 * Manager. On the TLS port its handshake first, bounded and capped
 * (tls_port.ts); then the address lists and protected mode
 * (gate.ts). A connection refused here gets its `ERR denied` line and is
 * closed (turn_away.ts) without ever taking a queue place; one let in is
 * handed on, to become a ClientHandler.
 *
 * The accept loop never waits here: a handshake runs on its own while the
 * loop accepts the next connection.
 */
import type { Logger } from "../log.ts";
import { formatHostPort } from "../../security/address.ts";
import { type GatePolicy, refusal } from "./gate.ts";
import type { Stats } from "../observability/stats.ts";
import type { TlsFiles } from "../../security/tls_files.ts";
import { type HandshakeFailure, TlsPort } from "./tls_port.ts";
import { type RefusedConn, TurnAway } from "../admission/turn_away.ts";

/** A connection as the door and the handler take it: a `Deno.TcpConn`, or a TLS port's `TlsConn`. */
export interface AcceptedConn extends RefusedConn {
  readonly remoteAddr: Deno.Addr;
}

/** Options of {@linkcode Door}. */
export interface DoorOptions {
  policy: GatePolicy;
  /** On the TLS port: the certificate and key, and the handshake deadline in ms (`--request-timeout`, 0 never). */
  tls: { files: TlsFiles; timeoutMs: number } | undefined;
  /** Counts `denied_total` and `tls_failures_total`. */
  stats: Stats;
  logger: Logger;
  /** Takes each connection let in (makes its ClientHandler and hands it to the Manager). */
  admit: (conn: AcceptedConn) => void;
}

/** Every accepted connection's way to the Manager. */
export class Door {
  readonly #options: DoorOptions;
  readonly #tls: TlsPort | undefined;
  readonly #turnAway = new TurnAway();

  constructor(options: DoorOptions) {
    this.#options = options;
    this.#tls = options.tls && new TlsPort(options.tls.files, {
      timeoutMs: options.tls.timeoutMs,
      onFailure: (why, error, remote) => this.#handshakeFailed(why, error, remote),
      onSecure: (conn) => this.#check(conn),
    });
  }

  /** Takes one accepted connection through the door. Returns at once; never throws. */
  pass(conn: Deno.TcpConn): void {
    if (this.#tls === undefined) this.#check(conn);
    else this.#tls.handshake(conn);
  }

  /** Serves a new certificate and key from the next TLS handshake on (SIGHUP). */
  replaceCertificate(files: TlsFiles): void {
    this.#tls?.replace(files);
  }

  /** Closes the handshakes in progress (the server is stopping). */
  close(): void {
    this.#tls?.closeAll();
  }

  /** The address lists, then protected mode; then in, or the line and the close. */
  #check(conn: AcceptedConn): void {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const refused = refusal(this.#options.policy, remote.hostname);
    if (refused === undefined) return this.#options.admit(conn);
    this.#options.stats.denied_total++;
    this.#options.logger.info("connection denied", {
      address: formatHostPort(remote),
      reason: refused.reason,
    });
    void this.#turnAway.refuse(conn, refused.reply);
  }

  /** Counted; logged at debug level only, since port scanners and plain-text clients make these all day. */
  #handshakeFailed(why: HandshakeFailure, error: unknown, remote: Deno.NetAddr): void {
    this.#options.stats.tls_failures_total++;
    const logger = this.#options.logger;
    if (!logger.debugEnabled) return;
    logger.debug(`TLS handshake ${why}`, {
      address: formatHostPort(remote),
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
