/**
 * What a connection may run (docs/security.md): the commands answered before AUTH,
 * and the role table that keeps a `read` user from changing anything. Pure
 * functions of upper-case command words; the handler asks, this module
 * never sees a connection.
 */

/** A user's role: `read` may look, `write` may also change files and keys. */
export type Role = "read" | "write";

/** Every role, in the order a message lists them. */
export const ROLES: readonly Role[] = ["read", "write"];

/** True if `text` names a role. */
export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}

/**
 * Commands answered before AUTH: enough to authenticate, check the server is
 * alive, read the help and leave. Everything else reveals or changes state.
 */
export const BEFORE_AUTH: ReadonlySet<string> = new Set([
  "AUTH",
  "PING",
  "HELP",
  "QUIT",
  "EXIT",
  "STOP",
]);

/** The message of the `noauth` error a command outside {@linkcode BEFORE_AUTH} gets. */
export const NOAUTH_MESSAGE = "authentication required: AUTH <name> <password>";

/** True if `command` (upper-case) is answered before AUTH. */
export function allowedBeforeAuth(command: string): boolean {
  return BEFORE_AUTH.has(command);
}

/**
 * The requests that change state, as `COMMAND SUBCOMMAND`. A table of what
 * `read` may NOT do, rather than what it may, so a new read-only command
 * (KV SCAN, say) needs no entry here; a new writing one must add its line.
 */
const WRITES: ReadonlySet<string> = new Set([
  "FILE PUT",
  "FILE DEL",
  "KV SET",
  "KV DEL",
  "KV INCR",
]);

/** True if `role` may run `command subcommand` (both upper-case; subcommand absent for plain commands). */
export function roleAllows(role: Role, command: string, subcommand?: string): boolean {
  if (role === "write") return true;
  return subcommand === undefined || !WRITES.has(`${command} ${subcommand}`);
}

/** The `denied` message for a request the role does not allow: `ada (read) may not KV SET`. */
export function roleDenial(name: string, role: Role, command: string, subcommand: string): string {
  return `${name} (${role}) may not ${command} ${subcommand}`;
}
