/**
 * The client's command line (docs/client.md) turned into a checked configuration,
 * with `SWITCHBOARD_HOST` and `SWITCHBOARD_PORT` as the defaults of `--host`
 * and `--port`. Options may appear anywhere and `--` ends them; a dash and a
 * letter (`-p`) is an option, every other argument, even `-5`, is a word of
 * the command. An unknown option, an option given twice, or a bad value is a
 * {@linkcode UsageError} naming it. Printing and exiting is the entry
 * point's job, not this module's.
 */
import { parseArgs } from "@std/cli/parse-args";
import { DEFAULT_CLIENT_TIMEOUT_S, DEFAULT_HOST, DEFAULT_PORT } from "../defaults.ts";
import { USER_NAME, USER_NAME_RULE } from "../security/users_file.ts";
import { UsageError } from "../usage_error.ts";
import { meantOption } from "../suggest.ts";
import { SUBCOMMANDS } from "./commands.ts";
import { PASSWORD_VARIABLE } from "./credentials.ts";
import type { ClientEnvironment } from "./environment.ts";

/** The client's usage text (`--help`, and after a usage error). */
export const CLIENT_USAGE =
  `usage: switchboard-client [--host H] [--port P] [--timeout S] [--json] [--tls] [--cacert FILE]
                          [--user NAME] [COMMAND ARGS...]

With no command: an interactive shell on a terminal (exit, quit, STOP or
Ctrl-D leave it), or, with stdin piped, every line is sent and every reply printed.

commands:
${SUBCOMMANDS.map(([syntax, what]) => `  ${syntax.padEnd(42)} ${what}`).join("\n")}

options (anywhere on the line; -- ends them, for a word that starts with a dash):
  --host H       server address (default $SWITCHBOARD_HOST, else ${DEFAULT_HOST})
  --port P       server port (default $SWITCHBOARD_PORT, else ${DEFAULT_PORT})
  --timeout S    seconds to connect and to wait for each reply, 0 = forever (default ${DEFAULT_CLIENT_TIMEOUT_S})
  --json         print one JSON object per reply (STATS, WHO, ls, kv keys: structured fields)
  --tls          connect with TLS, verifying the server's certificate and name
  --cacert FILE  with --tls: trust this CA (PEM) instead of the system's roots
  --user NAME    send AUTH NAME first; the password comes from $${PASSWORD_VARIABLE}
                 or, on a terminal, a prompt (never from the command line)
  --work-ms N    count: milliseconds of CPU work per increment (or count's third word)
  --force        get: replace an existing local file
  --interval S   top: seconds between samples (default 1)
  -h, --help     show this help
  --version      show the version

exit codes: 0 success, 1 the server answered ERR, 2 usage, 3 cannot connect or timed out,
4 integrity check failed (sha256 mismatch)`;

/** Everything the client runs with. */
export interface ClientConfig {
  host: string;
  port: number;
  /** Milliseconds to connect and to wait for each reply; 0 waits forever. */
  timeoutMs: number;
  /** One JSON object per reply instead of the payload. */
  json: boolean;
  /** `get` replaces an existing local file. */
  force: boolean;
  /** `count`'s milliseconds of work per increment, as typed (the server checks the range). */
  workMs: string | undefined;
  /** `top`'s seconds between samples, as typed (commands.ts checks it). */
  interval: string | undefined;
  /** The command and its arguments; empty for the shell or piped mode. */
  words: string[];
  /** Connect with TLS, verifying the certificate and name (docs/client.md `--tls`). */
  tls: boolean;
  /** With `tls`: the CA file to trust instead of the system roots. */
  caCert: string | undefined;
  /** Send `AUTH` as this user first (docs/client.md `--user`). */
  user: string | undefined;
}

/** What the command line asks for. */
export type ClientArgs =
  | { kind: "run"; config: ClientConfig }
  | { kind: "help" }
  | { kind: "version" };

/**
 * Longest --timeout: the client's timers hold at most 2^31-1 ms (about 24.8
 * days); a longer one would overflow and fire at once. 0 waits forever.
 */
export const MAX_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

const VALUE_OPTIONS = ["host", "port", "timeout", "work-ms", "cacert", "user", "interval"] as const;
const FLAG_OPTIONS = ["json", "force", "tls", "version"] as const;
/** `-h` is the one short option: any other argument that starts with one dash is a word. */
const ALIASES = { h: "help" } as const;

/**
 * Parses `switchboard-client [options] [COMMAND ARGS...]`, options anywhere;
 * `env` gives the defaults of --host and --port.
 */
export function parseClientArgs(
  args: readonly string[],
  env: ClientEnvironment = {},
): ClientArgs {
  const end = args.indexOf("--");
  const before = end === -1 ? args : args.slice(0, end);
  const after = end === -1 ? [] : args.slice(end + 1);
  const { shielded, word } = shieldWords(before);
  const unknown: string[] = [];
  const parsed: Record<string, unknown> & { _: Array<string | number> } = parseArgs(shielded, {
    string: [...VALUE_OPTIONS],
    boolean: [...FLAG_OPTIONS, "help"],
    collect: [...VALUE_OPTIONS, ...FLAG_OPTIONS],
    alias: ALIASES,
    unknown: (_arg: string, key?: string) => {
      if (key !== undefined) unknown.push(key);
      return key === undefined;
    },
  });
  if (unknown.length > 0) throw unknownOption(`--${unknown[0]}`);

  const values = new Map<string, string>();
  for (const name of VALUE_OPTIONS) {
    const given = parsed[name] as string[];
    if (given.length > 1) throw new UsageError(`--${name} is given twice`);
    // parseArgs gives "" to an option with nothing after it, or another option.
    if (given[0] === "") throw new UsageError(`--${name} needs a value`);
    if (given.length === 1) values.set(name, word(given[0]!));
  }
  const flags = new Set<string>();
  for (const name of FLAG_OPTIONS) {
    const given = parsed[name] as boolean[];
    if (given.length > 1) throw new UsageError(`--${name} is given twice`);
    if (given.length === 1) flags.add(name);
  }
  // Values are checked before --help is honoured: `--help --port x` is a usage error.
  const config: ClientConfig = {
    host: values.get("host") ?? nonEmpty(env.SWITCHBOARD_HOST) ?? DEFAULT_HOST,
    port: values.has("port")
      ? portOption(values.get("port")!, "--port")
      : env.SWITCHBOARD_PORT
      ? portOption(env.SWITCHBOARD_PORT, "SWITCHBOARD_PORT")
      : DEFAULT_PORT,
    timeoutMs: timeoutOption(values.get("timeout")) * 1000,
    json: flags.has("json"),
    force: flags.has("force"),
    workMs: values.get("work-ms"),
    interval: values.get("interval"),
    words: [...parsed._.map((arg) => word(String(arg))), ...after],
    tls: flags.has("tls"),
    caCert: values.get("cacert"),
    user: userOption(values.get("user")),
  };
  // Options override nothing silently: a CA file without --tls would look like TLS and not be.
  if (config.caCert !== undefined && !config.tls) {
    throw new UsageError("--cacert is for TLS connections: add --tls");
  }
  if (parsed.help === true) return { kind: "help" };
  if (flags.has("version")) return { kind: "version" };
  return { kind: "run", config };
}

/**
 * The arguments of `bench` (the client's options kept, the word `bench`
 * taken out), or undefined if the command is not bench: the load generator
 * has options of its own, which {@linkcode parseClientArgs} would refuse.
 */
export function benchArgs(args: readonly string[]): string[] | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith("--") && (VALUE_OPTIONS as readonly string[]).includes(arg.slice(2))) i++;
    else if (!arg.startsWith("-")) {
      return arg.toLowerCase() === "bench"
        ? [...args.slice(0, i), ...args.slice(i + 1)]
        : undefined;
    }
  }
  return undefined;
}

/**
 * std's parser reads `-5` as a short option (taking the next word as its
 * value) and `true` or `false` after a flag as the flag's value, but here
 * `calc add 2 -5` and `echo --json true` are words. So parseArgs sees only
 * the options; every other argument stands in as a NUL-prefixed token, which
 * a real argument can never be (arguments are C strings), and `word` turns a
 * token back into the argument it stands for. A flag given a value
 * (`--json=yes`) is refused here, since parseArgs would read it as true.
 */
function shieldWords(
  args: readonly string[],
): { shielded: string[]; word: (token: string) => string } {
  const words = new Map<string, string>();
  const shielded = args.map((arg, index) => {
    const previous = args[index - 1];
    // The value of `--host -x` is a value, not an option.
    const isValue = (VALUE_OPTIONS as readonly string[]).includes(previous?.slice(2) ?? "");
    if (/^-[A-Za-z]/.test(arg) && arg !== "-h" && !isValue) throw unknownOption(arg);
    if (arg === "-h" || (arg.startsWith("--") && arg.length > 2)) {
      const name = arg.slice(2).split("=", 1)[0]!;
      const isFlag = (FLAG_OPTIONS as readonly string[]).includes(name) || name === "help";
      if (isFlag && arg.includes("=")) throw new UsageError(`--${name} takes no value`);
      return arg;
    }
    const token = `\0${index}`;
    words.set(token, arg);
    return token;
  });
  return { shielded, word: (token) => words.get(token) ?? token };
}

function userOption(value: string | undefined): string | undefined {
  if (value === undefined || USER_NAME.test(value)) return value;
  throw new UsageError(`--user must be a user name, ${USER_NAME_RULE}: received "${value}"`);
}

/**
 * An option the client does not have, with the long one it probably meant:
 * `-p 12000` (the client's options are long, and a dash with a letter is
 * never a word of a command) or `--prot`.
 */
function unknownOption(arg: string): UsageError {
  const meant = meantOption(arg, [...VALUE_OPTIONS, ...FLAG_OPTIONS]);
  const hint = meant === undefined ? "--help lists the options" : `did you mean ${meant}?`;
  return new UsageError(`unknown option ${arg} (${hint})`);
}

/** An environment variable set to something, or undefined. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** A port number from `source` (an option or a variable, named in the error). */
function portOption(value: string, source: string): number {
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new UsageError(`${source} must be an integer from 1 to 65535: received "${value}"`);
  }
  return port;
}

function timeoutOption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CLIENT_TIMEOUT_S;
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(seconds <= MAX_TIMEOUT_S)) {
    throw new UsageError(
      `--timeout must be a number of seconds from 0 to ${MAX_TIMEOUT_S} (0 = forever): ` +
        `received "${value}"`,
    );
  }
  return seconds;
}
