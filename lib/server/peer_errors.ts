/**
 * What a network error means to the server, classified once for the door
 * (accepting) and the connection (reading and writing): most errors on a
 * socket only say that the peer went away, and end that one connection,
 * never the server.
 */

/** The peer reset or vanished: the same news whether it comes from accept() or a read. */
function peerVanished(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected;
}

/**
 * A read or write error that only means the peer went away (or the
 * connection was closed under the read, by us or a deadline).
 */
export function isDisconnect(error: unknown): boolean {
  return peerVanished(error) ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}

/** errno names accept(2) reports for one connection that failed before it was taken (Linux). */
const ACCEPT_PER_CONNECTION_CODES = new Set(["EPROTO", "EHOSTUNREACH", "ENETDOWN", "EPERM"]);

/**
 * An accept error that only concerns the one connection being accepted:
 * its peer reset or vanished between the kernel's accept queue and our
 * `accept()` (Deno reports a reset one as `NotConnected`, os error 107).
 */
export function isPerConnectionError(error: unknown): boolean {
  return peerVanished(error) ||
    error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof Deno.errors.NetworkUnreachable ||
    (error instanceof Error &&
      ACCEPT_PER_CONNECTION_CODES.has((error as { code?: string }).code ?? ""));
}
