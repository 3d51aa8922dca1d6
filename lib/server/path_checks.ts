/**
 * The directories the server writes (`--root`, `--data`), checked at start
 * (docs/server.md#paths): created if missing, and then proved to be a
 * directory this user may write in, so that a wrong path is one line in
 * plain words before the port opens, not `ERR unavailable` on every PUT
 * later.
 */
import { reasonOf } from "../paths.ts";

/** A path the server cannot use; the message is one line naming the option, the path and why. */
export class PathError extends Error {
  override name = "PathError";
}

/**
 * Creates `path` if missing and checks that it is a directory this process
 * can write in; throws {@linkcode PathError}. A permission the process was
 * not granted (Deno's `--allow-write`) is thrown as it is: the caller names
 * the flag.
 */
export async function checkWritableDirectory(option: string, path: string): Promise<void> {
  const fail = (why: string) => new PathError(`${option} ${JSON.stringify(path)}: ${why}`);
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    if (error instanceof Deno.errors.AlreadyExists) throw fail("is a file, not a directory");
    if (error instanceof Deno.errors.PermissionDenied) {
      throw fail("cannot be created: permission denied (this user may not write its parent)");
    }
    throw fail(`cannot be created: ${reasonOf(error)}`);
  }
  // mkdir succeeds on an existing directory, and on a symlink to one.
  let probe: string;
  try {
    probe = await Deno.makeTempFile({ dir: path, prefix: ".switchboard-write-check-" });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    if (error instanceof Deno.errors.PermissionDenied) {
      throw fail("is not writable: permission denied (this user may not create files in it)");
    }
    throw fail(`is not writable: ${reasonOf(error)}`);
  }
  await Deno.remove(probe).catch(() => {});
}
