/**
 * The one error for a command line that cannot be run (the server's, the
 * client's, the load generator's): the entry point prints its message and
 * the usage, and exits 2. Parsers throw it; they never print or exit.
 */

/** A command line that cannot be run; the message names the problem. */
export class UsageError extends Error {
  override name = "UsageError";
}
