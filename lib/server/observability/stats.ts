/**
 * The server's counters (docs/protocol.md#commands STATS, docs/observability.md metrics). Plain numbers bumped on
 * the event-loop thread: no lock is needed because no increment ever spans
 * an `await`.
 */

/** The counters' names, in STATS order. */
export const COUNTER_NAMES = [
  "accepted_total",
  "served_total",
  "rejected_total",
  "timeouts_total",
  "commands_total",
  "bytes_in",
  "bytes_out",
  "denied_total",
  "auth_failures_total",
  "tls_failures_total",
  "proxy_errors_total",
] as const;

/**
 * Monotonic counters; names are the STATS keys. Each network thread keeps
 * its own (no counter that every request touches is shared between
 * threads); STATS and /metrics add them up ({@linkcode snapshot}, {@linkcode add}).
 */
export class Stats {
  readonly startedAt: number;

  /** Counters from zero; `startedAt` (ms since the epoch, default now) is when the server started. */
  constructor(startedAt = Date.now()) {
    this.startedAt = startedAt;
  }
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

  /** The counters as they cross threads. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(COUNTER_NAMES.map((name) => [name, this[name]]));
  }

  /** Adds another thread's counters to these. */
  add(snapshot: Record<string, number>): void {
    for (const name of COUNTER_NAMES) this[name] += snapshot[name] ?? 0;
  }

  /** Whole seconds since the server started. */
  get uptimeSeconds(): number {
    return Math.floor((Date.now() - this.startedAt) / 1000);
  }
}
