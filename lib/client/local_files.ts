/**
 * The client's side of the local disk (docs/client.md): where a path the user typed
 * points (relative to the directory the command was run from, which under
 * `deno task` is `INIT_CWD`, not the project folder), and the one error for
 * anything the disk refuses, {@linkcode LocalFileError}, whose message is one
 * line naming the path as the user typed it.
 */
import { join } from "@std/path/join";
import type { LocalPath } from "../paths.ts";
import { reasonOf } from "../paths.ts";

/** A local file or directory problem: the client prints the message and exits 2. */
export class LocalFileError extends Error {
  override name = "LocalFileError";
}

/** `typed` joined with `name`, for a download into a directory. */
export function inside(directory: LocalPath, name: string): LocalPath {
  const separator = /[\\/]$/.test(directory.typed) ? "" : "/";
  return {
    typed: `${directory.typed}${separator}${name}`,
    resolved: join(directory.resolved, name),
  };
}

/** A LocalFileError for what the disk said about `shown`: `<path>: <reason>`. */
export function localFileError(shown: string, error: unknown): LocalFileError {
  return new LocalFileError(`${shown}: ${reasonOf(error)}`);
}
