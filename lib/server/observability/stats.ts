/**
 * The server's counters (docs/protocol.md#commands STATS, docs/observability.md metrics). Plain numbers bumped on
 * the event-loop thread: no lock is needed because no increment ever spans
 * an `await`.
 */

/** Monotonic counters; names are the STATS keys. */
export class Stats {
  readonly startedAt = Date.now();
  accepted_total = 0;
  served_total = 0;
  rejected_total = 0;
  timeouts_total = 0;
  commands_total = 0;
  bytes_in = 0;
  bytes_out = 0;
  /** Connections turned away by --allow/--deny or protected mode (docs/security.md). */
  denied_total = 0;
  /** AUTH requests answered `ERR denied`: a wrong name or password, or a throttled address. */
  auth_failures_total = 0;
  /** TLS handshakes that failed, timed out (--request-timeout) or were dropped for newer ones. */
  tls_failures_total = 0;
  /** Connections from a --proxy-protocol address whose PROXY header was missing, malformed or late. */
  proxy_errors_total = 0;

  /** Whole seconds since the server started. */
  get uptimeSeconds(): number {
    return Math.floor((Date.now() - this.startedAt) / 1000);
  }
}
