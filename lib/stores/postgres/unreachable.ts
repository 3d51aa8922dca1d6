/**
 * Which errors mean the database is out of reach (docs/several-servers.md#when-the-database-is-down):
 * those make the store unreachable (`ERR unavailable`, the outage log),
 * any other is a failure of the one request.
 */
import postgres from "postgres";

/**
 * SQLSTATE classes of a database that cannot serve us, whatever the query:
 * connection exceptions (08), shutdown and the like (57P), out of
 * resources such as connections (53), authentication (28), a missing
 * database (3D000), and a session ended for idling in a transaction (25P03).
 */
const UNREACHABLE_STATES = /^(08|57P|53|28)|^3D000$|^25P03$/;

/** Why the database is out of reach, if `error` says it is; undefined for any other error. */
export function unreachableReason(error: unknown, timeoutMs: number): string | undefined {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (error instanceof postgres.PostgresError) {
    return UNREACHABLE_STATES.test(error.code) ? error.message : undefined;
  }
  // The driver's own (CONNECTION_CLOSED, CONNECT_TIMEOUT, …) and the socket's (ECONNREFUSED, …).
  return typeof code === "string" && /^(E[A-Z]+|CONNECT\w*)$/.test(code)
    ? error.message
    : undefined;
}
