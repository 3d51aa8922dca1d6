/**
 * Tab completion for the shell (docs/client.md): command names (the protocol's and
 * the client's own), then subcommands (`FILE LIST`, `KV INCR`) and CALC
 * operators. Completions follow the case the user types in: `FI` becomes
 * `FILE`, `fi` becomes `file` (commands are case-insensitive on the wire).
 *
 * The protocol's words come from its command catalog
 * (lib/commands/catalog.ts), which holds no server code, rather than from
 * the server's HELP, so that completion works before a queued connection
 * is answered.
 */
import { CATALOG, commandNames, declared } from "../commands/catalog.ts";

const QUIT = declared("QUIT");

/** Protocol commands (docs/protocol.md#commands), with QUIT's aliases, lower-case. */
export const PROTOCOL_COMMANDS: readonly string[] = commandNames().map((name) =>
  name.toLowerCase()
);

/** The shell's commands that take over a line instead of sending it (lib/client/shell.ts). */
export const OWN_COMMANDS: readonly string[] = ["ls", "put", "get", "rm", "raw", "top"];

/** The shell's own commands: those, and `reconnect`. */
export const CLIENT_COMMANDS: readonly string[] = [...OWN_COMMANDS, "reconnect"];

/** The words that leave the shell: QUIT and its aliases, lower-case. */
export const LEAVING_WORDS: readonly string[] = [
  QUIT.name.toLowerCase(),
  ...(QUIT.aliases ?? []).map((alias) => alias.toLowerCase()),
];

/** What may follow each command word: the keywords each command declares; after HELP, any command. */
const NEXT_WORDS: Readonly<Record<string, readonly string[]>> = {
  ...Object.fromEntries(
    CATALOG.filter((command) => command.keywords !== undefined).map((command) => [
      command.name.toLowerCase(),
      command.keywords!.map((word) => word.toLowerCase()),
    ]),
  ),
  help: [...PROTOCOL_COMMANDS.filter((name) => name !== "help"), ...CLIENT_COMMANDS],
};

/**
 * Node readline's completer: the candidates for the word being typed at the
 * end of `line`, and that word.
 */
export function complete(line: string): [string[], string] {
  const words = line.trimStart().split(/[ \t]+/);
  const fragment = words.at(-1)!;
  let candidates: readonly string[];
  if (words.length === 1) {
    candidates = [...new Set([...PROTOCOL_COMMANDS, ...CLIENT_COMMANDS])].sort();
  } else if (words.length === 2) {
    candidates = NEXT_WORDS[words[0]!.toLowerCase()] ?? [];
  } else {
    candidates = [];
  }
  const upper = isUpperCase(fragment === "" ? words.at(-2) ?? "" : fragment);
  const hits = candidates
    .filter((word) => word.startsWith(fragment.toLowerCase()))
    .map((word) => upper ? word.toUpperCase() : word);
  return [hits, fragment];
}

/** Typed in capitals: some letter, and none in lower case. */
function isUpperCase(word: string): boolean {
  return /[A-Z]/.test(word) && !/[a-z]/.test(word);
}
