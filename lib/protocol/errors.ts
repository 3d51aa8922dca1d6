/**
 * Protocol errors (docs/protocol.md#commands): the error codes a reply may carry, and the
 * exception that stands for "answer this request with ERR". Thrown by the
 * parser and the commands; turned into a reply by the server's handler.
 */

/** Error codes of docs/protocol.md#commands; the word after `ERR`. */
export type ErrorCode =
  | "bad-request"
  | "unknown-command"
  | "bad-args"
  | "not-found"
  | "bad-name"
  | "too-large"
  | "div-by-zero"
  | "line-too-long"
  | "busy"
  | "timeout"
  | "shutdown"
  | "noauth"
  | "denied"
  | "no-space"
  | "unavailable"
  | "internal";

/** A request that must be answered with `ERR <code> <message>`; `fatal` closes the connection after. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fatal = false,
  ) {
    super(message);
  }
}
