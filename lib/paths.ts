/**
 * Paths a person typed on a command line: where they point (relative to the
 * directory the command was run from, which under `deno task` is
 * `INIT_CWD`, not the project folder), and why the disk refused one, in a
 * few plain words. The client's local files and the server's `--root`,
 * `--data`, `--users`, `--tls-*` and `passwd FILE` all go through here.
 */
import { isAbsolute } from "@std/path/is-absolute";
import { join } from "@std/path/join";

/** A local path as the user typed it (for messages) and as the program opens it. */
export interface LocalPath {
  typed: string;
  resolved: string;
}

/** Where relative and `~/` paths start from. */
export interface PathBase {
  /** The directory the user ran the command from (`INIT_CWD`); undefined: the process's own. */
  cwd?: string | undefined;
  /** The home directory, for a leading `~/`; undefined leaves `~` as typed. */
  home?: string | undefined;
}

/**
 * `typed` resolved against `base`: absolute paths stay, `~/…` starts at the
 * home directory (the shell's lines are not expanded by a system shell), and
 * anything else starts at `base.cwd` when it is known.
 */
export function localPath(typed: string, base: PathBase = {}): LocalPath {
  if (base.home !== undefined && (typed === "~" || /^~[\\/]/.test(typed))) {
    return { typed, resolved: join(base.home, typed.slice(1)) };
  }
  if (isAbsolute(typed) || base.cwd === undefined) return { typed, resolved: typed };
  return { typed, resolved: join(base.cwd, typed) };
}

/**
 * Why a file operation (or a write to stdout) failed, in a few words.
 * Deno's messages carry the OS text, an `(os error N)` and the path
 * again; errors without a class of their own
 * (a full disk) are recognised by the OS text, which is the same on every
 * Unix and close enough on Windows.
 */
export function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  if (error instanceof Deno.errors.NotADirectory) return "a part of the path is not a directory";
  if (error instanceof Deno.errors.AlreadyExists) return "already exists";
  if (error instanceof Deno.errors.NotCapable) {
    return "file access is not granted (run with --allow-read and --allow-write)";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/no space left|disk quota|not enough space/i.test(message)) return "no space left on device";
  if (/read-only file system/i.test(message)) return "read-only file system";
  return message.replace(/ \(os error \d+\).*$/s, "");
}
