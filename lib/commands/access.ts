/**
 * Who may run what (docs/security.md), decided in one place, before a command runs:
 * with `--users`, a connection that has not authenticated gets `ERR noauth`
 * for everything but AUTH, PING, HELP and QUIT (unknown commands included,
 * so that not even the command list leaks); an authenticated `read` user
 * gets `ERR denied` for what changes state. The rules are lib/security/
 * roles.ts; this file applies them to a request and its payload.
 *
 * A refused request that announced a payload (FILE PUT) must not leave its
 * bytes to be parsed as requests: the size is asked of the command
 * (`payloadSize`), the payload announced, and the handler reads and drops
 * it before the next request. A size that cannot be known closes the
 * connection, as a bad FILE PUT header does.
 */
import {
  err,
  keyword,
  type LineReply,
  ProtocolError,
  type Reply,
  type Request,
} from "../protocol/mod.ts";
import { allowedBeforeAuth, NOAUTH_MESSAGE, roleAllows, roleDenial } from "../security/roles.ts";
import type { Command, CommandContext } from "./command.ts";

const NOAUTH: LineReply = err("noauth", NOAUTH_MESSAGE);
const NOAUTH_CLOSING: LineReply = err("noauth", NOAUTH_MESSAGE, { close: true });

/**
 * The reply that refuses `request` (for `command`, undefined when the name
 * is unknown) on a server with users, or undefined if it may run. A
 * promise when a payload was announced, so the handler drops it before
 * replying. For an authenticated `read` user it may throw a ProtocolError
 * (a first argument that cannot be parsed), which the handler answers as
 * it would from the command; before AUTH every refusal is `noauth`.
 */
export function accessRefusal(
  command: Command | undefined,
  request: Request,
  context: CommandContext,
): Reply | Promise<Reply> | undefined {
  const user = context.session.user;
  if (user === undefined) {
    if (command !== undefined && allowedBeforeAuth(command.name)) return undefined;
    return withPayload(NOAUTH, NOAUTH_CLOSING, command, request, context);
  }
  if (command === undefined || user.role === "write") return undefined;
  // The subcommand is the first word only: KV SET's value is the raw rest of the line.
  const first = request.words(1)[0];
  const subcommand = first === undefined ? undefined : keyword(first);
  if (roleAllows(user.role, command.name, subcommand)) return undefined;
  const message = roleDenial(user.name, user.role, command.name, subcommand!);
  return withPayload(
    err("denied", message),
    err("denied", message, { close: true }),
    command,
    request,
    context,
  );
}

/** `reply`, after announcing the payload `request` carries; `closing` if its size is unknown. */
function withPayload(
  reply: LineReply,
  closing: LineReply,
  command: Command | undefined,
  request: Request,
  context: CommandContext,
): Reply | Promise<Reply> {
  if (command?.payloadSize === undefined) return reply;
  let size: number | undefined;
  try {
    size = command.payloadSize(request, context);
  } catch (error) {
    // A header that cannot be parsed: the refusal still stands, and the size is unknown.
    if (!(error instanceof ProtocolError)) throw error;
    size = undefined;
  }
  if (size === undefined) return closing;
  if (size === 0) return reply;
  // Announced and left unread: the handler drops it before this reply goes out.
  context.payload(size);
  return Promise.resolve(reply);
}
