/**
 * switchboard-client: an interactive shell, one-shot commands, and a piped
 * mode for scripts (docs/client.md). This file parses the command line, connects,
 * runs the mode lib/client/ has for it, and turns the outcome into the exit
 * codes of docs/client.md; everything else is in lib/client/.
 */
import process from "node:process";
import { setColorEnabled } from "@std/fmt/colors";
import { benchArgs, CLIENT_USAGE, type ClientConfig, parseClientArgs } from "./lib/client/args.ts";
import { type ClientCommand, parseCommand, refuseIgnoredOptions } from "./lib/client/commands.ts";
import { complete } from "./lib/client/completion.ts";
import {
  AuthRefusedError,
  ConnectError,
  Connection,
  type ConnectOptions,
} from "./lib/client/connection.ts";
import { type Credentials, loadCaCert, passwordFor } from "./lib/client/credentials.ts";
import { CLIENT_ENV_VARIABLES, type ClientEnvironment } from "./lib/client/environment.ts";
import { HISTORY_LIMIT, HistoryFile, historyPath, isSecret } from "./lib/client/history.ts";
import { LineEditor } from "./lib/client/line_editor.ts";
import { LocalFileError } from "./lib/client/local_files.ts";
import type { PathBase } from "./lib/paths.ts";
import { runKeys, runRequest, runTransfer } from "./lib/client/one_shot.ts";
import { PasswordAbortedError, PasswordInputError } from "./lib/security/password_input.ts";
import { OutputError, Printer, writeOutput } from "./lib/client/output.ts";
import { runPiped } from "./lib/client/piped.ts";
import { runShell } from "./lib/client/shell.ts";
import { hintFor } from "./lib/client/hints.ts";
import { runTop, TopRefusedError } from "./lib/client/top.ts";
import { IntegrityError } from "./lib/client/transfer.ts";
import { VERSION } from "./lib/defaults.ts";
import type { SyncByteSink } from "./lib/io.ts";
import { UsageError } from "./lib/usage_error.ts";
import { BENCH_USAGE, benchJson, benchReport, parseBenchArgs, runBench } from "./lib/bench/mod.ts";
import { inWorkerThread } from "./lib/worker_thread.ts";
import { serveBenchTask } from "./lib/bench/worker.ts";

/** Exit codes of docs/client.md. */
const EXIT = { ok: 0, serverError: 1, usage: 2, connection: 3, integrity: 4 } as const;
/** Exit code after Ctrl-C, as shells report a program ended by SIGINT (128 + 2). */
const EXIT_INTERRUPTED = 130;

/** Ctrl-C ended a transfer (after its cleanup ran). */
class InterruptedError extends Error {
  override name = "InterruptedError";
}

const encoder = new TextEncoder();

/** Writes all of `text` to stderr (an OutputError if it cannot). */
function writeErr(text: string): void {
  writeOutput(Deno.stderr, encoder.encode(text));
}

/** Writes `text` and a newline to stdout (an OutputError if it cannot). */
function writeOut(text: string): void {
  writeOutput(Deno.stdout, encoder.encode(text + "\n"));
}

/** `switchboard-client bench …`: the load generator (lib/bench/). */
async function runBenchCommand(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    console.log(BENCH_USAGE);
    return EXIT.ok;
  }
  let options;
  try {
    options = parseBenchArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeErr(`error: ${error.message}\n${BENCH_USAGE}\n`);
    return EXIT.usage;
  }
  let result;
  try {
    result = await runBench(options, new URL(import.meta.url));
  } catch (error) {
    // A --cacert that cannot be read.
    if (!(error instanceof LocalFileError)) throw error;
    writeErr(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  console.log(options.json ? JSON.stringify(benchJson(result)) : benchReport(result));
  if (result.counted === 0) {
    writeErr(`error: no replies: ${result.errorSamples[0] ?? "nothing arrived in the window"}\n`);
    return EXIT.connection;
  }
  return result.errors > 0 ? EXIT.serverError : EXIT.ok;
}

/**
 * The variables of lib/client/environment.ts that are set. One the client
 * may not read (run without its --allow-env) counts as unset, so a narrower
 * grant costs the defaults it gives, not a crash.
 */
function readEnvironment(): ClientEnvironment {
  const env: ClientEnvironment = {};
  for (const variable of CLIENT_ENV_VARIABLES) {
    if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") continue;
    const value = Deno.env.get(variable);
    if (value !== undefined) env[variable] = value;
  }
  return env;
}

/** Entry point; returns the exit code. Output that cannot be written ends it wherever it happens. */
export async function main(args: readonly string[]): Promise<number> {
  const bench = benchArgs(args);
  if (bench !== undefined) return await runBenchCommand(bench);
  try {
    return await runClient(args);
  } catch (error) {
    if (error instanceof OutputError) return exitCodeOf(error);
    throw error;
  }
}

/** The client, once it is not `bench`: parse, connect, run the mode; returns the exit code. */
async function runClient(args: readonly string[]): Promise<number> {
  const interactive = Deno.stdin.isTerminal();
  const color = Deno.stderr.isTerminal() && !Deno.noColor;
  setColorEnabled(color);
  const env = readEnvironment();
  const base: PathBase = { cwd: env.INIT_CWD, home: env.HOME ?? env.USERPROFILE };
  let config: ClientConfig;
  let command: ClientCommand | undefined;
  try {
    const parsed = parseClientArgs(args, env);
    if (parsed.kind === "help") {
      writeOut(CLIENT_USAGE);
      return EXIT.ok;
    }
    if (parsed.kind === "version") {
      writeOut(`switchboard-client ${VERSION}`);
      return EXIT.ok;
    }
    config = parsed.config;
    if (config.words.length === 0) refuseIgnoredOptions(undefined, config);
    else {
      command = await parseCommand(config.words, {
        workMs: config.workMs,
        interval: config.interval,
        force: config.force,
        // Deno's prompt() adds a space after the question.
        ask: interactive ? (question) => Promise.resolve(prompt(question.trimEnd())) : undefined,
      });
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeErr(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  const shellMode = interactive && command === undefined;
  const printer = new Printer({
    stdout: Deno.stdout,
    stderr: Deno.stderr,
    json: config.json,
    color,
    bareOk: shellMode,
    // Piped mode's output is for programs: no hints there.
    ...(shellMode || command !== undefined ? { hint: hintFor } : {}),
  });
  let security;
  try {
    security = await securityOf(config, env, base);
  } catch (error) {
    if (error instanceof PasswordAbortedError) return EXIT_INTERRUPTED;
    if (error instanceof LocalFileError) return exitCodeOf(error);
    if (!(error instanceof UsageError || error instanceof PasswordInputError)) throw error;
    writeErr(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  const connectOptions: ConnectOptions = {
    ...config,
    ...security,
    // top waits in the queue of a full server, saying so, until a slot frees (docs/client.md#top).
    waitInQueue: command?.kind === "top",
    // A late AUTH reply is told like any late reply: only where a person watches a terminal.
    notice: Deno.stderr.isTerminal() ? printer : undefined,
  };
  if (shellMode) return await openShell(connectOptions, { printer, base });
  try {
    using connection = await Connection.open(connectOptions);
    const answeredErr = await runMode(connection, command, { config, printer, base });
    return answeredErr ? EXIT.serverError : EXIT.ok;
  } catch (error) {
    if (!(error instanceof AuthRefusedError)) return exitCodeOf(error);
    printer.print(error.reply);
    return EXIT.serverError;
  }
}

/**
 * The interactive shell, connected if a server answers, else not connected
 * (the first command connects): as redis-cli opens before its server is up.
 * A refused AUTH ends it (exit 1): every command would be refused the same.
 */
async function openShell(
  connectOptions: ConnectOptions,
  options: { printer: Printer; base: PathBase },
): Promise<number> {
  const { printer, base } = options;
  let connection: Connection | undefined;
  try {
    connection = await Connection.open(connectOptions);
  } catch (error) {
    if (error instanceof AuthRefusedError) {
      printer.print(error.reply);
      return EXIT.serverError;
    }
    if (!(error instanceof ConnectError)) throw error;
    printer.error(error.message);
  }
  const progressSink = Deno.stderr.isTerminal() ? Deno.stderr : undefined;
  try {
    await shell(connection, { connectOptions, printer, base, progressSink });
  } finally {
    connection?.close();
  }
  return EXIT.ok;
}

/** The server as the shell's prompt names it: `ada@127.0.0.1:12000 tls`. */
function promptName(options: ConnectOptions): string {
  const user = options.credentials === undefined ? "" : `${options.credentials.name}@`;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return `${user}${host}:${options.port}${options.tls === undefined ? "" : " tls"}`;
}

/**
 * The CA to trust (`--tls`, `--cacert`) and the credentials to sign in with
 * (`--user`), read before connecting so that typing a password does not
 * eat into the server's idle timeout.
 */
async function securityOf(
  config: ClientConfig,
  env: ClientEnvironment,
  base: PathBase,
): Promise<{ tls: { caCerts: string[] } | undefined; credentials: Credentials | undefined }> {
  const caCerts = config.caCert === undefined ? [] : [await loadCaCert(config.caCert, base)];
  const credentials = config.user === undefined ? undefined : {
    name: config.user,
    password: await passwordFor(config.user, {
      fromEnv: env.SWITCHBOARD_PASSWORD,
      stdin: Deno.stdin,
      prompts: Deno.stderr,
    }),
  };
  return { tls: config.tls ? { caCerts } : undefined, credentials };
}

/**
 * The mode for `command`: one request, a key listing, a transfer, or with
 * no command piped mode (the shell is {@linkcode openShell}); resolves to
 * true if the server answered ERR.
 */
async function runMode(
  connection: Connection,
  command: ClientCommand | undefined,
  options: { config: ClientConfig; printer: Printer; base: PathBase },
): Promise<boolean> {
  const { config, printer, base } = options;
  const progressSink = Deno.stderr.isTerminal() ? Deno.stderr : undefined;
  // The wait notice redraws its line: only where a person watches a terminal.
  const notice = progressSink !== undefined;
  switch (command?.kind) {
    case "request":
      return await runRequest(connection, command.line, { printer, notice });
    case "keys":
      return await runKeys(connection, command.prefix, { printer, notice });
    case "top":
      return await top(connection, command.intervalMs, { json: config.json, printer });
    case "put":
    case "get": {
      // Ctrl-C closes the connection instead of killing the program at once, so the
      // transfer fails the ordinary way and removes its partial file before we exit.
      let interrupted = false;
      const interrupt = () => {
        interrupted = true;
        connection.close();
      };
      Deno.addSignalListener("SIGINT", interrupt);
      try {
        return await runTransfer(connection, command, {
          printer,
          force: config.force,
          progressSink,
          base,
        });
      } catch (error) {
        throw interrupted ? new InterruptedError("interrupted: the transfer was abandoned") : error;
      } finally {
        Deno.removeSignalListener("SIGINT", interrupt);
      }
    }
  }
  return await runPiped(connection, Deno.stdin.readable, printer);
}

/** `top` on this process's terminal; resolves to true if the server answered ERR. */
async function top(
  connection: Connection,
  intervalMs: number,
  options: { json: boolean; printer: Printer },
): Promise<boolean> {
  try {
    await runTop(connection, {
      intervalMs,
      json: options.json,
      terminal: { output: Deno.stdout, input: Deno.stdin, size: terminalSize },
    });
    return false;
  } catch (error) {
    if (!(error instanceof TopRefusedError)) throw error;
    options.printer.print(error.reply);
    return true;
  }
}

/** The terminal's size; 80 × 24 when stdout is not one, or says 0 (a pseudo-terminal never sized). */
function terminalSize(): { columns: number; rows: number } {
  try {
    const { columns, rows } = Deno.consoleSize();
    return { columns: columns || 80, rows: rows || 24 };
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/** The interactive shell on the terminal, with the history file in the home directory. */
async function shell(
  connection: Connection | undefined,
  options: {
    connectOptions: ConnectOptions;
    printer: Printer;
    base: PathBase;
    progressSink: SyncByteSink | undefined;
  },
): Promise<void> {
  const path = historyPath(options.base.home);
  const history = path === undefined ? undefined : new HistoryFile(path);
  const editor = new LineEditor({
    input: process.stdin,
    output: process.stdout,
    // A history that cannot be read starts empty; saving it says why once.
    history: await history?.load().catch(() => []) ?? [],
    historyLimit: HISTORY_LIMIT,
    keep: (line) => !isSecret(line),
    complete,
  });
  try {
    await runShell(connection, {
      editor,
      printer: options.printer,
      connect: () => Connection.open(options.connectOptions),
      server: promptName(options.connectOptions),
      history,
      base: options.base,
      progressSink: options.progressSink,
    });
  } finally {
    editor.close();
  }
}

/** Prints the one line for what a mode threw and returns its exit code; anything else is a bug. */
function exitCodeOf(error: unknown): number {
  if (error instanceof OutputError) {
    // Whoever read our output stopped (`| head -1`): they have what they wanted, so
    // this is quiet and exit 0, as ripgrep and git do, not an error with its trace.
    if (error.closed) return EXIT.ok;
    try {
      writeErr(`error: ${error.message}\n`);
    } catch {
      // stderr fails too: the exit code is all that is left to say it.
    }
    return EXIT.usage;
  }
  if (error instanceof IntegrityError) {
    writeErr(`error: integrity check failed: ${error.message}\n`);
    return EXIT.integrity;
  }
  if (error instanceof InterruptedError) {
    writeErr(`error: ${error.message}\n`);
    return EXIT_INTERRUPTED;
  }
  if (error instanceof LocalFileError) {
    writeErr(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  if (!(error instanceof ConnectError)) throw error;
  writeErr(`error: ${error.message}\n`);
  return EXIT.connection;
}

// `bench` threads run this very file (a bundle has no lib/ beside it).
if (inWorkerThread()) serveBenchTask();
else if (import.meta.main) Deno.exit(await main(Deno.args));
