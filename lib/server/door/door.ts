/**
 * The door (docs/security.md, docs/protocol.md#admission-the-queue-and-its-limits): what every accepted connection passes before the
 * Manager. On the TLS port its handshake first, bounded and capped
 * (tls_port.ts `Handshakes`); then the address lists and protected mode
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
import { type HandshakeFailure, Handshakes } from "./tls_port.ts";
import { TurnAway } from "../admission/turn_away.ts";
import { closeQuietly } from "../../io.ts";

/** Options of {@linkcode Door}. */
export interface DoorOptions {
  policy: GatePolicy;
  /** On a TLS port: the handshake deadline in ms (`--request-timeout`, 0 never; docs/server.md#server-options). */
  tls: { timeoutMs: number } | undefined;
  /** Counts `denied_total` and `tls_failures_total`. */
  stats: Stats;
  logger: Logger;
  /** Takes each connection let in (makes its ClientHandler and hands it to the Manager). */
  admit: (conn: Deno.Conn) => void;
}

/** Every accepted connection's way to the Manager. */
export class Door {
  readonly #options: DoorOptions;
  readonly #handshakes: Handshakes | undefined;
  readonly #turnAway = new TurnAway();

  constructor(options: DoorOptions) {
    this.#options = options;
    this.#handshakes = options.tls === undefined ? undefined : new Handshakes({
      timeoutMs: options.tls.timeoutMs,
      onFailure: (why, error, conn) => this.#handshakeFailed(why, error, conn),
    });
  }

  /** Takes one accepted connection through the door. Returns at once; never throws. */
  pass(conn: Deno.Conn): void {
    if (this.#handshakes === undefined) return this.#check(conn);
    this.#handshakes.run(conn as Deno.TlsConn).then((done) => done && this.#check(conn)).catch(
      (error) => {
        // A bug of ours after the handshake must not become an unhandled rejection,
        // which would end the process: this connection is lost, the server goes on.
        this.#options.logger.warn("connection failed at the door", { error: String(error) });
        closeQuietly(conn);
      },
    );
  }

  /** Closes the handshakes in progress (the server is stopping). */
  close(): void {
    this.#handshakes?.closeAll();
  }

  /** The address lists, then protected mode; then in, or the line and the close. */
  #check(conn: Deno.Conn): void {
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
  #handshakeFailed(why: HandshakeFailure, error: unknown, conn: Deno.Conn): void {
    this.#options.stats.tls_failures_total++;
    const logger = this.#options.logger;
    if (!logger.debugEnabled) return;
    logger.debug(`TLS handshake ${why}`, {
      address: formatHostPort(conn.remoteAddr as Deno.NetAddr),
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
