/**
 * The protocol's commands as data: the one list of their names, and what
 * each declares about itself — its aliases, the keywords that may follow
 * it, which of its requests change state, whether it is answered before
 * AUTH. The access rules (lib/security/roles.ts), the command table
 * (mod.ts) and the client's completion all read it here. It holds no
 * behaviour and imports nothing of the server's, so the client imports it
 * as it is; what a command does is in its own file (command.ts `Command`).
 */
import { OPERATORS } from "../jobs/arithmetic.ts";

/** What a command declares about itself, apart from what it does. */
export interface CommandDeclaration {
  /** Upper-case name as typed (case-insensitive on the wire). */
  readonly name: string;
  /** Other names that run the same command (QUIT's EXIT and STOP). */
  readonly aliases?: readonly string[];
  /** Upper-case words that may follow the name: its subcommands (FILE LIST), or CALC's operators. */
  readonly keywords?: readonly string[];
  /**
   * Which requests change state, so that a `read` user is denied them:
   * true for every request of the command, or the subcommand keywords
   * that do (FILE PUT, FILE DEL). Absent: it changes nothing.
   */
  readonly writes?: true | readonly string[];
  /** Answered before AUTH on a server with `--users` (docs/protocol.md#before-auth). */
  readonly beforeAuth?: true;
}

/** Every command, in HELP order. */
export const CATALOG: readonly CommandDeclaration[] = [
  { name: "HELP", beforeAuth: true },
  { name: "PING", beforeAuth: true },
  { name: "ECHO" },
  { name: "QUIT", aliases: ["EXIT", "STOP"], beforeAuth: true },
  { name: "AUTH", beforeAuth: true },
  { name: "HELLO" },
  { name: "WHO" },
  { name: "STATS" },
  // The spelled-out operators; the symbols (+ - * /) are not words to complete.
  { name: "CALC", keywords: [...OPERATORS.keys()].filter((word) => /^[A-Z]+$/.test(word)) },
  { name: "COUNT" },
  { name: "FILE", keywords: ["LIST", "PUT", "GET", "DEL"], writes: ["PUT", "DEL"] },
  {
    name: "KV",
    keywords: ["SET", "GET", "DEL", "INCR", "KEYS", "SCAN"],
    writes: ["SET", "DEL", "INCR"],
  },
];

const BY_NAME: ReadonlyMap<string, CommandDeclaration> = new Map(
  CATALOG.flatMap((command) =>
    [command.name, ...(command.aliases ?? [])].map((name) => [name, command] as const)
  ),
);

/** The declaration of the command named `name` (upper-case, or an alias); undefined if none. */
export function declarationOf(name: string): CommandDeclaration | undefined {
  return BY_NAME.get(name);
}

/** The declaration of `name`, for the command's own file; a name not in the catalog is a bug. */
export function declared(name: string): CommandDeclaration {
  const declaration = BY_NAME.get(name);
  if (declaration === undefined || declaration.name !== name) {
    throw new RangeError(`${name} is not a command of lib/commands/catalog.ts`);
  }
  return declaration;
}

/** Every name a command answers to, aliases included, in HELP order. */
export function commandNames(): string[] {
  return CATALOG.flatMap((command) => [command.name, ...(command.aliases ?? [])]);
}
