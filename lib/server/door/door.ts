/**
 * The door (docs/security.md, docs/protocol.md#admission-the-queue-and-its-limits): what every accepted connection passes before the
 * Manager. From a `--proxy-protocol` address, its PROXY header first,
 * bounded and capped (proxy_headers.ts), which names the client the rest of
 * the way sees (docs/server.md#behind-a-load-balancer); on the TLS port its
 * handshake, bounded and capped (tls_port.ts), after the header; then the
 * address lists and protected mode (gate.ts), on the client's address. A
 * connection refused here gets its `ERR denied` line and is closed
 * (turn_away.ts) without ever taking a queue place; one let in is handed
 * on, to become a ClientHandler.
 *
 * The accept loop never waits here: a header or a handshake runs on its own
 * while the loop accepts the next connection.
 */
import type { Logger } from "../log.ts";
import { formatHostPort } from "../../security/address.ts";
import { type AddressList, listMatches } from "../../security/address_list.ts";
import { type DoorConn, type ProxyFailure, ProxyHeaders } from "./proxy_headers.ts";
import { type GatePolicy, refusal } from "./gate.ts";
import type { Stats } from "../observability/stats.ts";
import type { TlsFiles } from "../../security/tls_files.ts";
import { type HandshakeFailure, TlsPort } from "./tls_port.ts";
import { TurnAway } from "../admission/turn_away.ts";
import { closeQuietly } from "../../io.ts";

/** Options of {@linkcode Door}. */
export interface DoorOptions {
  policy: GatePolicy;
  /** On the TLS port: the certificate and key, and the handshake deadline in ms (`--request-timeout`, 0 never). */
  tls: { files: TlsFiles; timeoutMs: number } | undefined;
  /**
   * `--proxy-protocol`: connections from these addresses begin with a PROXY
   * header, read within `timeoutMs` (`--request-timeout`, 0 never).
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
  readonly #tls: TlsPort | undefined;
  readonly #proxyHeaders: ProxyHeaders | undefined;
  readonly #turnAway = new TurnAway();

  constructor(options: DoorOptions) {
    this.#options = options;
    this.#proxyHeaders = options.proxy && new ProxyHeaders({
      timeoutMs: options.proxy.timeoutMs,
      onFailure: (why, detail, conn) => this.#proxyFailed(why, detail, conn),
    });
    this.#tls = options.tls && new TlsPort(options.tls.files, {
      timeoutMs: options.tls.timeoutMs,
      onFailure: (why, error, remote) => this.#handshakeFailed(why, error, remote),
      onSecure: (conn, remote) => this.#check(conn, remote),
    });
  }

  /** Takes one accepted connection through the door. Returns at once; never throws. */
  pass(conn: Deno.TcpConn): void {
    const own = conn.remoteAddr;
    const proxy = this.#options.proxy;
    if (proxy === undefined || !listMatches(proxy.from, own.hostname)) {
      return this.#afterHeader(conn, own);
    }
    this.#proxyHeaders!.read(conn).then((proxied) => {
      if (proxied !== undefined) this.#afterHeader(proxied.conn, proxied.remote);
    }).catch((error) => {
      // A bug of ours after the header must not become an unhandled rejection,
      // which would end the process: this connection is lost, the server goes on.
      this.#options.logger.warn("connection failed at the door", { error: String(error) });
      closeQuietly(conn);
    });
  }

  /** Serves a new certificate and key from the next TLS handshake on (SIGHUP). */
  replaceCertificate(files: TlsFiles): void {
    this.#tls?.replace(files);
  }

  /** Closes the headers and handshakes in progress (the server is stopping). */
  close(): void {
    this.#proxyHeaders?.closeAll();
    this.#tls?.closeAll();
  }

  /** The TLS handshake on the TLS port (the header, if any, was before it); then the check. */
  #afterHeader(conn: DoorConn, remote: Deno.NetAddr): void {
    if (this.#tls === undefined) this.#check(conn, remote);
    else this.#tls.handshake(conn, { remote });
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
