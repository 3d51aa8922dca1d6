/**
 * The door (docs/security.md, docs/protocol.md#admission-the-queue-and-its-limits): what every accepted connection passes before the
 * Manager. From a `--proxy-protocol` address, its PROXY header first, bounded
 * and capped (proxy_headers.ts), which names the client the rest of the way
 * sees (docs/server.md#behind-a-load-balancer); on the TLS port its handshake,
 * bounded and capped (tls_port.ts `Handshakes`); then the address lists and
 * protected mode (gate.ts), on the client's address. A connection refused here gets its `ERR denied` line and is
 * closed (turn_away.ts) without ever taking a queue place; one let in is
 * handed on, to become a ClientHandler.
 *
 * The accept loop never waits here: a handshake runs on its own while the
 * loop accepts the next connection.
 */
import type { Logger } from "../log.ts";
import { formatHostPort } from "../../security/address.ts";
import { type AddressList, listMatches } from "../../security/address_list.ts";
import { type DoorConn, type ProxyFailure, ProxyHeaders } from "./proxy_headers.ts";
import { type GatePolicy, refusal } from "./gate.ts";
import type { Stats } from "../observability/stats.ts";
import { type HandshakeFailure, Handshakes } from "./tls_port.ts";
import { TurnAway } from "../admission/turn_away.ts";

/** Options of {@linkcode Door}. */
export interface DoorOptions {
  policy: GatePolicy;
  /** On a TLS port: the handshake deadline in ms (SPEC `--request-timeout`, 0 never). */
  tls: { timeoutMs: number } | undefined;
  /**
   * SPEC `--proxy-protocol`: connections from these addresses begin with a
   * PROXY header, read within `timeoutMs` (SPEC `--request-timeout`, 0 never).
   */
  proxy?: { from: AddressList; timeoutMs: number } | undefined;
  /** Counts `denied_total`, `tls_failures_total` and `proxy_errors_total`. */
  stats: Stats;
  logger: Logger;
  /**
   * Takes each connection let in, with its client's address (the one a PROXY
   * header named, or the connection's own): makes its ClientHandler and
   * hands it to the Manager.
   */
  admit: (conn: DoorConn, remote: Deno.NetAddr) => void;
}

/** Every accepted connection's way to the Manager. */
export class Door {
  readonly #options: DoorOptions;
  readonly #handshakes: Handshakes | undefined;
  readonly #proxyHeaders: ProxyHeaders | undefined;
  readonly #turnAway = new TurnAway();

  constructor(options: DoorOptions) {
    this.#options = options;
    this.#proxyHeaders = options.proxy === undefined ? undefined : new ProxyHeaders({
      timeoutMs: options.proxy.timeoutMs,
      onFailure: (why, detail, conn) => this.#proxyFailed(why, detail, conn),
    });
    this.#handshakes = options.tls === undefined ? undefined : new Handshakes({
      timeoutMs: options.tls.timeoutMs,
      onFailure: (why, error, conn) => this.#handshakeFailed(why, error, conn),
    });
  }

  /** Takes one accepted connection through the door. Returns at once; never throws. */
  pass(conn: Deno.Conn): void {
    const own = conn.remoteAddr as Deno.NetAddr;
    const proxy = this.#options.proxy;
    if (proxy !== undefined && listMatches(proxy.from, own.hostname)) {
      return this.#guard(
        conn,
        this.#proxyHeaders!.read(conn).then((proxied) =>
          proxied && this.#check(proxied.conn, proxied.remote)
        ),
      );
    }
    if (this.#handshakes === undefined) return this.#check(conn, own);
    this.#guard(
      conn,
      this.#handshakes.run(conn as Deno.TlsConn).then((done) => done && this.#check(conn, own)),
    );
  }

  /** Closes the handshakes and headers in progress (the server is stopping). */
  close(): void {
    this.#handshakes?.closeAll();
    this.#proxyHeaders?.closeAll();
  }

  /** Waits on a step that runs on its own while the accept loop goes on. */
  #guard(conn: Deno.Conn, step: Promise<unknown>): void {
    step.catch(
      (error) => {
        // A bug of ours after the handshake must not become an unhandled rejection,
        // which would end the process: this connection is lost, the server goes on.
        this.#options.logger.warn("connection failed at the door", { error: String(error) });
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      },
    );
  }

  /** The address lists, then protected mode, on the client's address; then in, or the line and the close. */
  #check(conn: DoorConn, remote: Deno.NetAddr): void {
    const refused = refusal(this.#options.policy, remote.hostname);
    if (refused === undefined) return this.#options.admit(conn, remote);
    this.#options.stats.denied_total++;
    this.#options.logger.info("connection denied", {
      address: formatHostPort(remote),
      reason: refused.reason,
    });
    void this.#turnAway.refuse(conn, refused.reply);
  }

  /** Closed without a reply (done by proxy_headers.ts), counted, logged at debug level. */
  #proxyFailed(why: ProxyFailure, detail: string, conn: Deno.Conn): void {
    this.#options.stats.proxy_errors_total++;
    const logger = this.#options.logger;
    if (!logger.debugEnabled) return;
    logger.debug(`PROXY header ${why}`, {
      address: formatHostPort(conn.remoteAddr as Deno.NetAddr),
      error: detail,
    });
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
