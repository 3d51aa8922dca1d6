/**
 * `switchboard-server passwd FILE NAME ROLE` (docs/server.md#server-options): adds user NAME with
 * ROLE to the users file, or gives an existing NAME a new role and
 * password. Every other line (users, comments, blank lines) is kept as it
 * was. The file is rewritten atomically — a temporary file in the same
 * folder, flushed, then renamed over it — so a server reloading it on
 * SIGHUP sees the old file or the new one, never half of one.
 *
 * Two passwd runs on one file at the same moment can lose one of the two
 * changes (the later rename wins); the file is an operator's, edited by one
 * operator at a time.
 */
import { writeAll } from "../io.ts";
import { UsageError } from "../usage_error.ts";
import { hashPassword, type ScryptParameters } from "./password_hash.ts";
import { PasswordInputError } from "./password_input.ts";
import { isRole, type Role, ROLES } from "./roles.ts";
import {
  parseUsersFile,
  readUsersText,
  stripComment,
  USER_NAME,
  USER_NAME_RULE,
  UsersFileError,
} from "./users_file.ts";

/** The subcommand's usage line. */
export const PASSWD_USAGE =
  "usage: switchboard-server passwd FILE NAME ROLE   (ROLE: read or write; " +
  "the password is read from stdin, or prompted for on a terminal)";

/** Mode of a users file passwd creates: the hashes are for the server's eyes only. */
const NEW_FILE_MODE = 0o600;

/** What to change: which file, which user, which role. */
export interface PasswdRequest {
  file: string;
  name: string;
  role: Role;
}

/** Reads `FILE NAME ROLE` (the words after `passwd`); a bad one is a UsageError naming it. */
export function parsePasswdArgs(args: readonly string[]): PasswdRequest {
  if (args.length !== 3) {
    throw new UsageError(`passwd takes FILE NAME ROLE: received ${args.length} argument(s)`);
  }
  const [file, name, role] = args as [string, string, string];
  if (file === "" || file.includes("\0")) {
    throw new UsageError(`passwd FILE must be a file path: received ${JSON.stringify(file)}`);
  }
  if (!USER_NAME.test(name)) {
    throw new UsageError(`passwd NAME must be ${USER_NAME_RULE}: received ${JSON.stringify(name)}`);
  }
  if (!isRole(role)) {
    throw new UsageError(
      `passwd ROLE must be ${ROLES.join(" or ")}: received ${JSON.stringify(role)}`,
    );
  }
  return { file, name, role };
}

/** Options of {@linkcode passwd}. */
export interface PasswdOptions {
  /** scrypt parameters of the new hash; default the module's (tests use cheaper ones). */
  parameters?: ScryptParameters;
}

/**
 * Sets NAME's role and password in FILE, creating FILE (mode 0600) if it is
 * missing. The existing file is checked first, so a malformed one stops
 * before the password is asked for. `readPassword` supplies the password.
 * Throws UsersFileError for a file that cannot be read, parsed or written.
 */
export async function passwd(
  request: PasswdRequest,
  readPassword: () => Promise<string>,
  options: PasswdOptions = {},
): Promise<void> {
  const { file, name, role } = request;
  const before = await readUsersText(file);
  if (before !== undefined) parseUsersFile(before, file);
  const password = await readPassword();
  if (password === "") throw new PasswordInputError("the password is empty");
  const hash = await hashPassword(password, options.parameters);
  const after = setUserLine(before ?? "", name, `${name} ${role} ${hash}`);
  const mode = before === undefined ? NEW_FILE_MODE : await currentMode(file);
  try {
    await replaceFile(file, after, mode);
  } catch (error) {
    throw new UsersFileError(
      file,
      undefined,
      error instanceof Error ? error.message : String(error),
    );
  }
}

/**
 * `text` with the line of user `name` replaced by `line` (a comment at the
 * end of the old line is kept), or `line` appended if there is none. `text`
 * must already parse as a users file.
 */
export function setUserLine(text: string, name: string, line: string): string {
  const lines = text === "" ? [] : text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const index = lines.findIndex((l) => stripComment(l).trim().split(/[ \t]+/)[0] === name);
  if (index === -1) return [...lines, line, ""].join("\n");
  const old = lines[index]!;
  const comment = old.slice(stripComment(old).length).replace(/\r$/, "");
  const ending = old.endsWith("\r") ? "\r" : "";
  lines[index] = (comment === "" ? line : `${line} ${comment}`) + ending;
  return [...lines, ""].join("\n");
}

/** The file's permission bits, kept across the rewrite (an operator who chose 0640 meant it). */
async function currentMode(file: string): Promise<number> {
  const { mode } = await Deno.stat(file);
  return mode === null ? NEW_FILE_MODE : mode & 0o777;
}

/** Writes `text` to a temporary file beside `file`, flushes it, and renames it over `file`. */
async function replaceFile(file: string, text: string, mode: number): Promise<void> {
  const suffix = crypto.getRandomValues(new Uint8Array(6)).reduce(
    (s, b) => s + b.toString(16).padStart(2, "0"),
    "",
  );
  const temp = `${file}.${suffix}.tmp`;
  const handle = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    try {
      await writeAll(handle, new TextEncoder().encode(text));
      // The umask may have cleared bits of `mode`; chmod sets exactly it.
      if (Deno.build.os !== "windows") await Deno.chmod(temp, mode);
      await handle.sync();
    } finally {
      handle.close();
    }
    await Deno.rename(temp, file);
  } catch (error) {
    // Best effort: the error that brought us here is the one to report.
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
