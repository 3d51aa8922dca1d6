/**
 * What a connection may run (docs/security.md): the commands answered before AUTH,
 * and the roles that keep a `read` user from changing anything. Pure
 * functions of upper-case command words, read from what each command
 * declares (lib/commands/catalog.ts); the handler asks, this module never
 * sees a connection.
 */
import { declarationOf } from "../commands/catalog.ts";

/** A user's role: `read` may look, `write` may also change files and keys. */
export type Role = "read" | "write";

/** Every role, in the order a message lists them. */
export const ROLES: readonly Role[] = ["read", "write"];

/** True if `text` names a role. */
export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}

/** The message of the `noauth` error a command not {@linkcode allowedBeforeAuth} gets. */
export const NOAUTH_MESSAGE = "authentication required: AUTH <name> <password>";

/**
 * True if `command` (upper-case, or an alias) is answered before AUTH: enough
 * to authenticate, check the server is alive, read the help and leave, as
 * each command declares (lib/commands/catalog.ts `beforeAuth`). Everything
 * else reveals or changes state.
 */
export function allowedBeforeAuth(command: string): boolean {
  return declarationOf(command)?.beforeAuth === true;
}

/**
 * True if `role` may run `command subcommand` (both upper-case; subcommand
 * absent for plain commands): `read` may do anything that its command does
 * not declare as writing (lib/commands/catalog.ts `writes`), so a new
 * read-only command (KV SCAN, say) needs nothing here, and a writing one
 * says so in its own declaration.
 */
export function roleAllows(role: Role, command: string, subcommand?: string): boolean {
  if (role === "write") return true;
  const writes = declarationOf(command)?.writes;
  if (writes === undefined) return true;
  if (writes === true) return false;
  return subcommand === undefined || !writes.includes(subcommand);
}

/** The `denied` message for a request the role does not allow: `ada (read) may not KV SET`. */
export function roleDenial(name: string, role: Role, command: string, subcommand: string): string {
  return `${name} (${role}) may not ${command} ${subcommand}`;
}
