/**
 * The client's one-shot subcommands (SPEC §7) turned into protocol request
 * lines. Building requests from words uses the protocol's own quoting, so
 * `hello "Ada Lovelace" …` reaches the server as one word.
 */
import { quoteWord } from "../protocol/mod.ts";
import { UsageError } from "../usage_error.ts";

/** Missing HELLO fields, asked for on a terminal. */
export type Ask = (question: string) => string | null;

/** Options a subcommand may use. */
export interface SubcommandOptions {
  /** `count`'s work per increment (`--work-ms`). */
  workMs?: string | undefined;
  /** Asks for missing input on a terminal; undefined off a terminal. */
  ask?: Ask | undefined;
}

/** `put` or `get`: a file transfer between the local path and the server's file `name`. */
export interface TransferCommand {
  kind: "put" | "get";
  local: string;
  name: string;
}

/** What a command asks for: one protocol request, or a file transfer. */
export type ClientCommand = { kind: "request"; line: string } | TransferCommand;

/** Subcommand names and their syntax, for the usage text. */
export const SUBCOMMANDS: ReadonlyArray<[string, string]> = [
  ["ping [text]", "liveness check"],
  ["echo <text...>", "the text back"],
  ["calc <op> <a> <b>", "add|sub|mul|div (+ - * /), exact integers"],
  ["count <start> <increments> [--work-ms N]", "a counting job on the server's worker threads"],
  ["hello [name] [student-id] [github]", "identify yourself (asks for what is missing)"],
  ["who", "connections to the server"],
  ["stats", "server counters"],
  ["kv set <key> <value...>", "store a value in the shared store"],
  ["kv get|del <key>", "read or delete a key"],
  ["kv incr <key> [by]", "add to an integer, atomically"],
  ["kv keys [prefix]", "list keys"],
  ["ls", "files on the server"],
  ["put <local> [name]", "upload a file (progress on a terminal, sha256 verified)"],
  ["get <name> [local] [--force]", "download a file atomically (sha256 verified)"],
  ["rm <name>", "delete a file on the server"],
  ["raw <line...>", "send a line exactly as given"],
  ["bench [-c N] [-n N|-d S] [-P N] [--churn] [line]", "load generator (bench --help)"],
];

/** The command `words` (a subcommand and its arguments) ask for; throws UsageError. */
export function parseCommand(
  words: readonly string[],
  options: SubcommandOptions = {},
): ClientCommand {
  const [name, first, second, ...more] = words;
  switch (name?.toLowerCase()) {
    case "put":
      if (first === undefined || more.length > 0) throw new UsageError("usage: put <local> [name]");
      return { kind: "put", local: first, name: second ?? first.slice(first.lastIndexOf("/") + 1) };
    case "get":
      if (first === undefined || more.length > 0) {
        throw new UsageError("usage: get <name> [local] [--force]");
      }
      return { kind: "get", name: first, local: second ?? first };
    default:
      return { kind: "request", line: buildRequest(words, options) };
  }
}

/** The request line for `words` (a subcommand and its arguments). */
export function buildRequest(words: readonly string[], options: SubcommandOptions = {}): string {
  const [name, ...args] = words;
  const line = (...parts: string[]) => parts.map(quoteWord).join(" ");
  const expect = (min: number, max: number, usage: string) => {
    if (args.length < min || args.length > max) throw new UsageError(`usage: ${usage}`);
  };
  switch (name?.toLowerCase()) {
    case "ping":
      return args.length === 0 ? "PING" : `PING ${args.join(" ")}`;
    case "echo":
      expect(1, Infinity, "echo <text...>");
      return `ECHO ${args.join(" ")}`;
    case "calc":
      expect(3, 3, "calc <op> <a> <b>");
      return line("CALC", ...args);
    case "count": {
      expect(2, 2, "count <start> <increments> [--work-ms N]");
      return options.workMs === undefined
        ? line("COUNT", ...args)
        : line("COUNT", ...args, options.workMs);
    }
    case "hello":
      return line("HELLO", ...helloFields(args, options.ask));
    case "who":
      expect(0, 0, "who");
      return "WHO";
    case "stats":
      expect(0, 0, "stats");
      return "STATS";
    case "ls":
      expect(0, 0, "ls");
      return "FILE LIST";
    case "rm":
      expect(1, 1, "rm <name>");
      return line("FILE", "DEL", ...args);
    case "kv":
      return kvRequest(args);
    case "raw":
      expect(1, Infinity, "raw <line...>");
      return args.join(" ");
    case undefined:
      throw new UsageError("no command given");
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

function helloFields(args: readonly string[], ask: Ask | undefined): string[] {
  const labels = ["name", "student id", "GitHub user"];
  if (args.length > 3) throw new UsageError("usage: hello [name] [student-id] [github]");
  const fields = [...args];
  for (let i = fields.length; i < 3; i++) {
    if (ask === undefined) {
      throw new UsageError(`hello needs a ${labels[i]}: hello <name> <student-id> <github>`);
    }
    const answer = ask(`${labels[i]}:`)?.trim();
    if (!answer) throw new UsageError(`hello needs a ${labels[i]}`);
    fields.push(answer);
  }
  return fields;
}

function kvRequest(args: readonly string[]): string {
  const [sub, key, ...rest] = args;
  const usage =
    "usage: kv set <key> <value...> | kv get <key> | kv del <key> | kv incr <key> [by] | kv keys [prefix]";
  switch (sub?.toLowerCase()) {
    case "set":
      if (key === undefined) throw new UsageError(usage);
      // The value is the rest of the line on the wire: joined, never quoted.
      return `KV SET ${quoteWord(key)} ${rest.join(" ")}`;
    case "get":
    case "del":
      if (key === undefined || rest.length > 0) throw new UsageError(usage);
      return `KV ${sub.toUpperCase()} ${quoteWord(key)}`;
    case "incr":
      if (key === undefined || rest.length > 1) throw new UsageError(usage);
      return ["KV", "INCR", ...[key, ...rest].map(quoteWord)].join(" ");
    case "keys":
      if (rest.length > 0) throw new UsageError(usage);
      return key === undefined ? "KV KEYS" : `KV KEYS ${quoteWord(key)}`;
    default:
      throw new UsageError(usage);
  }
}
