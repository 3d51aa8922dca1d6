/**
 * Tab completion of the shell's path words (docs/client.md#the-shell): a
 * local path after `put` (and as `get`'s second word), a file on the
 * server after `get`, `rm`, `FILE GET` and `FILE DEL`. Command names are
 * completion.ts's; this file only answers where a path goes. A name that
 * would need quoting, or holds control characters, is never offered.
 */
import { localPath, type PathBase } from "../paths.ts";
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
