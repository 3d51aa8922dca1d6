/**
 * The client's subcommands (docs/client.md): their usage, and the words of one
 * turned into what it asks for (a protocol request line, a file transfer, a
 * key listing). Building requests from words uses the protocol's own
 * quoting, so `hello "Ada Lovelace" …` reaches the server as one word. A
 * wrong command is a {@linkcode UsageError} of one line: the problem, then
 * that command's own usage.
 */
import { closest } from "../suggest.ts";
import { basename } from "@std/path/basename";
import { quoteWord } from "../protocol/mod.ts";
import { UsageError } from "../usage_error.ts";
import { argumentCount, expectArgs } from "../arity.ts";
import { PROTOCOL_COMMANDS } from "./completion.ts";
import { DEFAULT_INTERVAL_S, MIN_INTERVAL_S } from "./top.ts";

/** Asks for missing input on a terminal; resolves to null when the user ends input (Ctrl-D). */
export type Ask = (question: string) => Promise<string | null>;

/** Options a subcommand may use. */
export interface SubcommandOptions {
  /** `count`'s work per increment given as `--work-ms`. */
  workMs?: string | undefined;
  /** `top`'s `--interval`, as typed. */
  interval?: string | undefined;
  /** `--force` was given: only `get` takes it. */
  force?: boolean | undefined;
  /** Asks for missing input on a terminal; undefined off a terminal. */
  ask?: Ask | undefined;
}

/** `put` or `get`: a file transfer between the local path (as typed) and the server's file `name`. */
export interface TransferCommand {
  kind: "put" | "get";
  local: string;
  name: string;
}

/** What a command asks for: one protocol request, a file transfer, or every key with a prefix. */
export type ClientCommand =
  | { kind: "request"; line: string }
  | { kind: "keys"; prefix: string | undefined }
  | { kind: "top"; intervalMs: number }
  | TransferCommand;

/** Subcommand syntax and purpose, in usage order; the first word of the syntax is the name. */
export const SUBCOMMANDS: ReadonlyArray<[string, string]> = [
  ["ping [text]", "liveness check"],
  ["echo <text...>", "the text back"],
  ["calc <op> <a> <b>", "add|sub|mul|div (+ - * /); exact; 1/3 is 50 digits..."],
  ["count <start> <increments> [<work-ms>]", "a counting job on the server's worker threads"],
  ["hello [name] [student-id] [github]", "identify yourself (asks for what is missing)"],
  ["who", "connections to the server"],
  ["top [--interval S]", "watch the server: running, queue, connections, rates (q leaves)"],
  ["stats", "server counters"],
  ["kv set <key> <value...>", "store a value in the shared store"],
  ["kv get|del <key>", "read or delete a key"],
  ["kv incr <key> [by]", "add to an integer, atomically"],
  ["kv keys [prefix]", "list keys (any number: paged with KV SCAN when needed)"],
  ["ls", "files on the server"],
  ["put <local> [name]", "upload a file (progress on a terminal, sha256 verified)"],
  ["get <name> [local] [--force]", "download a file atomically (sha256 verified)"],
  ["rm <name>", "delete a file on the server"],
  ["raw <line...>", "send a line exactly as given"],
  ["bench [-c N] [-n N|-d S] [-P N] [--churn] [line]", "load generator (bench --help)"],
];

/** The HELLO fields, as the questions that ask for them. */
const HELLO_FIELDS = ["name", "student id", "GitHub user"] as const;

/**
 * The syntax of subcommand `name` (`"kv"`, or `"kv get"` for one of its
 * forms), as the usage text gives it; undefined for an unknown name.
 */
export function usageOf(name: string): string | undefined {
  const [command, sub] = name.toLowerCase().split(" ");
  const forms = SUBCOMMANDS.map(([syntax]) => syntax).filter((syntax) => {
    const words = syntax.split(" ");
    return words[0] === command && (sub === undefined || words[1]?.split("|").includes(sub));
  });
  return forms.length === 0 ? undefined : forms.join(" | ");
}

/** A UsageError for subcommand `name`: the problem, then its usage, on one line. */
export function commandUsageError(name: string, problem: string): UsageError {
  const usage = usageOf(name);
  return new UsageError(usage === undefined ? problem : `${problem}; usage: ${usage}`);
}

/**
 * Why a FILE PUT line cannot be sent on its own (the shell, `raw`, a
 * one-shot protocol line): its payload would have to follow it, and only
 * `put` (or piped mode, from stdin) sends one.
 */
export const FILE_PUT_REFUSED = "FILE PUT is followed by a file's bytes: use put <local> [name]";

/** True for the words of a FILE PUT request, in any case. */
export function isFilePut(words: readonly string[]): boolean {
  return words[0]?.toLowerCase() === "file" && words[1]?.toLowerCase() === "put";
}

/** What the command `words` (a subcommand and its arguments) ask for; throws UsageError. */
export async function parseCommand(
  words: readonly string[],
  options: SubcommandOptions = {},
): Promise<ClientCommand> {
  const [name, ...args] = words;
  refuseIgnoredOptions(name?.toLowerCase(), options);
  switch (name?.toLowerCase()) {
    case "put": {
      expectCommandArgs("put", args, 1, 2);
      const [local, remote] = args as [string, string | undefined];
      if (local === "") throw commandUsageError("put", "a local file name is required");
      return { kind: "put", local, name: remote ?? basename(local) };
    }
    case "get": {
      expectCommandArgs("get", args, 1, 2);
      const [remote, local] = args as [string, string | undefined];
      if (remote === "") throw commandUsageError("get", "a file name is required");
      if (local === "") throw commandUsageError("get", "a local file name is required");
      return { kind: "get", name: remote, local: local ?? remote };
    }
    case "hello":
      expectCommandArgs("hello", args, 0, 3);
      return { kind: "request", line: line("HELLO", ...await helloFields(args, options.ask)) };
    case "top":
      expectCommandArgs("top", args, 0, 0);
      return { kind: "top", intervalMs: intervalOption(options.interval) * 1000 };
    case "kv":
      if (args[0]?.toLowerCase() === "keys") {
        expectCommandArgs("kv keys", args.slice(1), 0, 1);
        return { kind: "keys", prefix: args[1] };
      }
      return { kind: "request", line: kvRequest(args) };
    default:
      return { kind: "request", line: buildRequest(words, options) };
  }
}

/**
 * An option the command would ignore is a usage error naming it: a user who
 * typed `put x --force` expects it to mean something.
 */
export function refuseIgnoredOptions(
  name: string | undefined,
  options: SubcommandOptions,
): void {
  const command = name ?? "the shell";
  if (options.workMs !== undefined && name !== "count") {
    throw new UsageError(`--work-ms is for count only, not ${command}`);
  }
  if (options.force && name !== "get") {
    throw new UsageError(`--force is for get only, not ${command}`);
  }
  if (options.interval !== undefined && name !== "top") {
    throw new UsageError(`--interval is for top only, not ${command}`);
  }
}

/** The request line for `words` (a subcommand and its arguments, not put/get/hello asking). */
export function buildRequest(words: readonly string[], options: SubcommandOptions = {}): string {
  const [name, ...args] = words;
  switch (name?.toLowerCase()) {
    case "ping":
      return args.length === 0 ? "PING" : `PING ${args.join(" ")}`;
    case "echo":
      expectCommandArgs("echo", args, 1, Infinity);
      return `ECHO ${args.join(" ")}`;
    case "calc":
      expectCommandArgs("calc", args, 3, 3);
      return line("CALC", ...args);
    case "count":
      return countRequest(args, options.workMs);
    case "hello":
      expectCommandArgs("hello", args, 3, 3);
      return line("HELLO", ...args);
    case "who":
      expectCommandArgs("who", args, 0, 0);
      return "WHO";
    case "stats":
      expectCommandArgs("stats", args, 0, 0);
      return "STATS";
    case "ls":
      expectCommandArgs("ls", args, 0, 0);
      return "FILE LIST";
    case "rm":
      expectCommandArgs("rm", args, 1, 1);
      return line("FILE", "DEL", ...args);
    case "kv":
      return kvRequest(args);
    case "raw":
      expectCommandArgs("raw", args, 1, Infinity);
      if (isFilePut(args)) throw new UsageError(FILE_PUT_REFUSED);
      return args.join(" ");
    case undefined:
      throw new UsageError("no command given (--help lists the commands)");
    default:
      return protocolRequest(words);
  }
}

/**
 * Any other command of the protocol (`help`, `quit`, `FILE LIST`), as the
 * shell takes it: the words sent as a request line, quoted where needed.
 * AUTH is refused: its password would stay in the shell's history and the
 * process list, which is why `--user` exists.
 */
function protocolRequest(words: readonly string[]): string {
  const name = words[0]!;
  if (!PROTOCOL_COMMANDS.includes(name.toLowerCase())) {
    const meant = closest(name, SUBCOMMANDS.map(([syntax]) => syntax.split(" ", 1)[0]!));
    const hint = meant === undefined ? "--help lists the commands" : `did you mean ${meant}?`;
    throw new UsageError(`unknown command "${name}" (${hint})`);
  }
  if (name.toLowerCase() === "auth") {
    throw new UsageError("AUTH on the command line would expose the password: use --user NAME");
  }
  if (isFilePut(words)) throw new UsageError(FILE_PUT_REFUSED);
  return line(...words);
}

/** `top --interval S` in seconds: a number from {@linkcode MIN_INTERVAL_S}; default 1. */
function intervalOption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_INTERVAL_S;
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= MIN_INTERVAL_S && seconds <= 3600)) {
    throw commandUsageError(
      "top",
      `--interval must be a number of seconds from ${MIN_INTERVAL_S} to 3600: received "${value}"`,
    );
  }
  return seconds;
}

/** Protocol words, each quoted where it needs to be. */
function line(...parts: string[]): string {
  return parts.map(quoteWord).join(" ");
}

/** Throws a UsageError for `name` unless it has `min` to `max` arguments. */
function expectCommandArgs(name: string, args: readonly unknown[], min: number, max: number): void {
  expectArgs(args, { min, max }, (count) => {
    const wanted = max === 0
      ? "no arguments"
      : min === max
      ? argumentCount(min)
      : max === Infinity
      ? `at least ${argumentCount(min)}`
      : min === 0
      ? `at most ${argumentCount(max)}`
      : `${min} to ${argumentCount(max)}`;
    return commandUsageError(name, `${name} takes ${wanted}, got ${count}`);
  });
}

/** `count <start> <increments> [<work-ms>]`, as on the wire, or with `--work-ms N`. */
function countRequest(args: readonly string[], workMs: string | undefined): string {
  expectCommandArgs("count", args, 2, 3);
  if (args.length === 3 && workMs !== undefined) {
    throw commandUsageError("count", "count's work-ms is given twice (as a word and as --work-ms)");
  }
  return workMs === undefined ? line("COUNT", ...args) : line("COUNT", ...args, workMs);
}

/** The three HELLO fields: those given, then each missing one asked for until it is not empty. */
async function helloFields(args: readonly string[], ask: Ask | undefined): Promise<string[]> {
  const fields = [...args];
  for (let i = fields.length; i < HELLO_FIELDS.length; i++) {
    const label = HELLO_FIELDS[i]!;
    if (ask === undefined) throw commandUsageError("hello", `hello needs a ${label}`);
    let answer = "";
    // An empty answer is a slip of the Enter key, not a decision: ask again, keep what was typed.
    while (answer === "") {
      const reply = await ask(`${label}: `);
      if (reply === null) throw commandUsageError("hello", `hello needs a ${label}`);
      answer = reply.trim();
    }
    fields.push(answer);
  }
  return fields;
}

function kvRequest(args: readonly string[]): string {
  const [sub, ...rest] = args;
  switch (sub?.toLowerCase()) {
    case "set":
      expectCommandArgs("kv set", rest, 1, Infinity);
      // The value is the rest of the line on the wire: joined, never quoted.
      return `KV SET ${quoteWord(rest[0]!)} ${rest.slice(1).join(" ")}`;
    case "get":
    case "del":
      expectCommandArgs(`kv ${sub.toLowerCase()}`, rest, 1, 1);
      return line("KV", sub.toUpperCase(), rest[0]!);
    case "incr":
      expectCommandArgs("kv incr", rest, 1, 2);
      return line("KV", "INCR", ...rest);
    case "keys":
      expectCommandArgs("kv keys", rest, 0, 1);
      return rest.length === 0 ? "KV KEYS" : line("KV", "KEYS", rest[0]!);
    case undefined:
      throw commandUsageError("kv", "kv needs a subcommand");
    default:
      throw commandUsageError("kv", `kv has no subcommand "${sub}"`);
  }
}
