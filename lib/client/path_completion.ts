/**
 * Tab completion of the shell's path words (docs/client.md#the-shell): a
 * local path after `put` (and as `get`'s second word), a file on the
 * server after `get`, `rm`, `FILE GET` and `FILE DEL`. Command names are
 * completion.ts's; this file only answers where a path goes. A name that
 * would need quoting, or holds control characters, is never offered.
 */
import { deadline } from "@std/async/deadline";
import { localPath, type PathBase } from "../paths.ts";
import type { Connection } from "./connection.ts";
import { quoteWord } from "../protocol/mod.ts";

/** Node readline's completion: the candidates, and the word they complete. */
export type Completion = [string[], string];

/** Where {@linkcode completePath} finds names. */
export interface PathCompletionSources {
  /** Where relative local paths start (INIT_CWD) and `~` points. */
  base: PathBase;
  /** The server's file names (FILE LIST); [] when they cannot be had now. */
  remoteNames: () => Promise<string[]>;
}

/** Which kind of path the last word of `words` is, if any. */
export function pathWordAt(words: readonly string[]): "local" | "remote" | undefined {
  const command = words[0]?.toLowerCase();
  const index = words.length - 1;
  if (command === "put") return index === 1 ? "local" : undefined;
  if (command === "get") return index === 1 ? "remote" : index === 2 ? "local" : undefined;
  if (command === "rm") return index === 1 ? "remote" : undefined;
  const sub = words[1]?.toLowerCase();
  if (command === "file" && (sub === "get" || sub === "del") && index === 2) return "remote";
  return undefined;
}

/**
 * The completion of the path being typed at the end of `line`, or
 * undefined when the word there is not a path (command completion then
 * applies).
 */
export function completePath(
  line: string,
  sources: PathCompletionSources,
): Promise<Completion> | undefined {
  const words = line.trimStart().split(/[ \t]+/);
  const kind = pathWordAt(words);
  if (kind === undefined) return undefined;
  const fragment = words.at(-1)!;
  const candidates = kind === "local"
    ? localCandidates(fragment, sources.base)
    : sources.remoteNames().then((names) => names.filter((name) => name.startsWith(fragment)));
  return candidates.then((hits) => [hits.filter(typable).sort(), fragment]);
}

/**
 * A candidate that can go on the line as it is: no control characters (a
 * name from a hostile server, or a local file, must not send escape
 * sequences to the terminal) and nothing the shell would read as two words
 * or a quote.
 */
function typable(candidate: string): boolean {
  // deno-lint-ignore no-control-regex -- control characters are exactly what is refused.
  return !/[\x00-\x1f\x7f-\x9f]/.test(candidate) && quoteWord(candidate) === candidate;
}

/**
 * The entries of the folder `fragment` names that start with its last
 * part, folders with a `/`; hidden ones only when that part starts with a
 * dot. A folder that cannot be read completes nothing.
 */
async function localCandidates(fragment: string, base: PathBase): Promise<string[]> {
  const cut = fragment.lastIndexOf("/") + 1;
  const folder = fragment.slice(0, cut);
  const start = fragment.slice(cut);
  const resolved = localPath(folder === "" ? "." : folder, base).resolved;
  const hits: string[] = [];
  try {
    for await (const entry of Deno.readDir(resolved)) {
      if (!entry.name.startsWith(start)) continue;
      if (entry.name.startsWith(".") && !start.startsWith(".")) continue;
      const isFolder = entry.isDirectory ||
        (entry.isSymlink &&
          await Deno.stat(`${resolved}/${entry.name}`).then((s) => s.isDirectory, () => false));
      hits.push(`${folder}${entry.name}${isFolder ? "/" : ""}`);
    }
  } catch {
    return [];
  }
  return hits;
}

/**
 * How long Tab waits for the server's file names. A person pressing Tab
 * expects an answer at once; a listing later than this is abandoned, and
 * with it the connection (its reply could no longer be told apart).
 */
const COMPLETION_WAIT_MS = 2_000;

/**
 * The server's file names for Tab after `get` or `rm`: one FILE LIST on
 * the shell's connection while the prompt waits, kept until
 * {@linkcode forget} (the next line runs). None while not connected or
 * still queued (the reply would wait for a slot), and none if the listing
 * fails. The shell waits for {@linkcode fetching} before it sends anything
 * else, so that the two replies never cross.
 */
export class RemoteNames {
  #names: string[] | undefined;
  #fetching: Promise<string[]> | undefined;

  /** The FILE LIST in flight on the connection, if any. */
  get fetching(): Promise<string[]> | undefined {
    return this.#fetching;
  }

  /** The names, from the last listing or a new one on `connection`. */
  fetch(connection: Connection | undefined): Promise<string[]> {
    if (this.#names !== undefined) return Promise.resolve(this.#names);
    if (this.#fetching !== undefined) return this.#fetching;
    if (connection === undefined || !connection.answered) return Promise.resolve([]);
    const listing = list(connection).catch(() => {
      // Its reply may still come, and would be taken for the next request's: as after
      // Ctrl-C, the connection is closed (the next command connects again).
      connection.close();
      return [];
    });
    this.#fetching = listing;
    return listing.then((names) => {
      this.#fetching = undefined;
      return this.#names = names;
    });
  }

  /** Drops the names: a line is about to run, and may change the files. */
  forget(): void {
    this.#names = undefined;
  }
}

/** The names of a FILE LIST on `connection` (none if it answers anything else). */
async function list(connection: Connection): Promise<string[]> {
  await connection.send("FILE LIST");
  const reply = await deadline(connection.read(), COMPLETION_WAIT_MS);
  if (reply.kind !== "data") return [];
  // `<size> <modified> <name>` lines; a name may have spaces.
  return new TextDecoder().decode(reply.body).split("\n").filter((line) => line !== "")
    .map((line) => line.split(" ").slice(2).join(" "));
}
