/**
 * Tab completion for the shell (docs/client.md): command names (the protocol's and
 * the client's own), then subcommands (`FILE LIST`, `KV INCR`) and CALC
 * operators. Completions follow the case the user types in: `FI` becomes
 * `FILE`, `fi` becomes `file` (commands are case-insensitive on the wire).
 *
 * The words are listed here rather than asked of the server's HELP, so that
 * completion works before a queued connection is answered, and without
 * the server's code in the client; a test checks them against the server's
 * command table.
 */

/** Protocol commands (docs/protocol.md#commands), with QUIT's aliases. */
export const PROTOCOL_COMMANDS: readonly string[] = [
  "help",
  "ping",
  "echo",
  "quit",
  "exit",
  "stop",
  "hello",
  "who",
  "stats",
  "auth",
  "calc",
  "count",
  "file",
  "kv",
];

/** The shell's own commands (lib/client/shell.ts). */
export const CLIENT_COMMANDS: readonly string[] = ["ls", "put", "get", "rm", "raw", "reconnect"];

/** What may follow each command word. */
const NEXT_WORDS: Readonly<Record<string, readonly string[]>> = {
  file: ["list", "put", "get", "del"],
  kv: ["set", "get", "del", "incr", "keys", "scan"],
  calc: ["add", "subtract", "sub", "multiply", "mul", "divide", "div"],
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
