/**
 * The users file (`--users FILE`, docs/security.md): lines `<name> <role> <hash>`,
 * `#` starts a comment, blank lines are ignored. Parsing is strict, because
 * a server that half-understands its users file may let the wrong person
 * in: any malformed line stops the load with one line naming the file, the
 * line number and what is wrong.
 */
import { reasonOf } from "../paths.ts";
import { isRole, type Role, ROLES } from "./roles.ts";
import { parsePasswordHash, type PasswordHash, PasswordHashError } from "./password_hash.ts";

/** One user of the file. */
export interface User {
  readonly name: string;
  readonly role: Role;
  readonly hash: PasswordHash;
}

/** The users of one file, by name (names are case-sensitive, as Redis ACL users are). */
export type Users = ReadonlyMap<string, User>;

/** A user together with where it was found, for tools that edit the file (passwd). */
export interface UserLine {
  user: User;
  /** 1-based. */
  line: number;
}

/**
 * User names: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `-`. They
 * appear in AUTH requests, log lines and denial messages, so no spaces,
 * quotes or control characters that would need escaping anywhere; and
 * `passwd FILE -h read` must not look like an option.
 */
export const USER_NAME = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/;

/** The name rule in words, for messages. */
export const USER_NAME_RULE = "1 to 64 of A-Z a-z 0-9 . _ - (not starting with -)";

/** A users file that cannot be read or is malformed; the message is one line naming the file (and line). */
export class UsersFileError extends Error {
  override name = "UsersFileError";
  constructor(readonly path: string, readonly line: number | undefined, reason: string) {
    super(
      `users file ${JSON.stringify(path)}${line === undefined ? "" : ` line ${line}`}: ${reason}`,
    );
  }
}

/** The part of `line` before any `#` comment. */
export function stripComment(line: string): string {
  const hash = line.indexOf("#");
  return hash === -1 ? line : line.slice(0, hash);
}

/** Parses a users file's text; `path` only names it in errors. Throws {@linkcode UsersFileError}. */
export function parseUsersFile(text: string, path: string): UserLine[] {
  const found: UserLine[] = [];
  const seen = new Map<string, number>();
  const lines = text.split("\n");
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    const fields = stripComment(raw).trim().split(/[ \t\r]+/).filter((f) => f !== "");
    if (fields.length === 0) continue;
    const fail = (reason: string) => new UsersFileError(path, line, reason);
    if (fields.length !== 3) {
      throw fail(`expected <name> <role> <hash>, found ${fields.length} field(s)`);
    }
    const [name, role, hashText] = fields as [string, string, string];
    if (!USER_NAME.test(name)) {
      throw fail(`bad name ${JSON.stringify(name)}: names are ${USER_NAME_RULE}`);
    }
    if (!isRole(role)) {
      throw fail(`unknown role ${JSON.stringify(role)} (roles: ${ROLES.join(", ")})`);
    }
    const first = seen.get(name);
    if (first !== undefined) throw fail(`user ${name} is already defined on line ${first}`);
    let hash: PasswordHash;
    try {
      hash = parsePasswordHash(hashText);
    } catch (error) {
      if (!(error instanceof PasswordHashError)) throw error;
      throw fail(`${error.message} (write it with switchboard-server passwd)`);
    }
    seen.set(name, line);
    found.push({ user: { name, role, hash }, line });
  }
  return found;
}

/** Reads and parses the users file at `path`; every failure is a {@linkcode UsersFileError}. */
export async function loadUsers(path: string): Promise<Users> {
  const text = await readUsersText(path);
  if (text === undefined) throw new UsersFileError(path, undefined, "no such file");
  return new Map(parseUsersFile(text, path).map(({ user }) => [user.name, user]));
}

/**
 * The file's text, or undefined if it does not exist (passwd then creates
 * it). Other failures, and text that is not UTF-8, are a UsersFileError.
 */
export async function readUsersText(path: string): Promise<string | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new UsersFileError(path, undefined, reasonOf(error));
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsersFileError(path, undefined, "not UTF-8 text");
  }
}

/**
 * The file's permission bits if its group or others have any access to it
 * (so the server can warn: the hashes are what a guesser needs), otherwise
 * undefined; also undefined where the OS has no such bits (Windows).
 */
export async function looseUsersFileMode(path: string): Promise<number | undefined> {
  const { mode } = await Deno.stat(path);
  if (mode === null || (mode & 0o077) === 0) return undefined;
  return mode & 0o777;
}
