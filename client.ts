/**
 * switchboard-client: an interactive shell, one-shot commands, and a piped
 * mode for scripts (SPEC §7). This file parses the command line, connects,
 * runs the mode lib/client/ has for it, and turns the outcome into the exit
 * codes of SPEC §7; everything else is in lib/client/.
 */
import { setColorEnabled } from "@std/fmt/colors";
import { CLIENT_USAGE, type ClientConfig, parseClientArgs } from "./lib/client/args.ts";
import { type ClientCommand, parseCommand } from "./lib/client/commands.ts";
import { AuthRefusedError, ConnectError, Connection } from "./lib/client/connection.ts";
import { type Credentials, loadCaCert, passwordFor, readEnv } from "./lib/client/credentials.ts";
import { PasswordAbortedError, PasswordInputError } from "./lib/security/password_input.ts";
import { runRequest, runTransfer } from "./lib/client/one_shot.ts";
import { Printer } from "./lib/client/output.ts";
import { runPiped } from "./lib/client/piped.ts";
import { runShell } from "./lib/client/shell.ts";
import { IntegrityError } from "./lib/client/transfer.ts";
import { VERSION } from "./lib/defaults.ts";
import { writeAllSync } from "./lib/io.ts";
import { UsageError } from "./lib/usage_error.ts";
import { BENCH_USAGE, benchJson, benchReport, parseBenchArgs, runBench } from "./lib/bench/mod.ts";
import { inWorkerThread } from "./lib/worker_pool.ts";
import { serveBenchTask } from "./lib/bench/worker.ts";

/** Exit codes of SPEC §7. */
const EXIT = { ok: 0, serverError: 1, usage: 2, connection: 3, integrity: 4 } as const;

const encoder = new TextEncoder();

/** Writes all of `text` to stderr. */
function writeErr(text: string): void {
  writeAllSync(Deno.stderr, encoder.encode(text));
}

/** Global options that take a value: skipped when looking for the `bench` word. */
const VALUE_OPTIONS = new Set(["--host", "--port", "--timeout", "--work-ms", "--cacert", "--user"]);

/** The arguments of `bench` (global options kept), or undefined if the command is not bench. */
function benchArgs(args: readonly string[]): string[] | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith("-")) {
      return arg.toLowerCase() === "bench"
        ? [...args.slice(0, i), ...args.slice(i + 1)]
        : undefined;
    }
  }
  return undefined;
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
    if (!(error instanceof UsageError)) throw error;
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

/** Entry point; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const bench = benchArgs(args);
  if (bench !== undefined) return await runBenchCommand(bench);
  const interactive = Deno.stdin.isTerminal();
  const color = Deno.stderr.isTerminal() && !Deno.noColor;
  setColorEnabled(color);
  let config: ClientConfig;
  let command: ClientCommand | undefined;
  try {
    const parsed = parseClientArgs(args);
    if (parsed.kind === "help") {
      console.log(CLIENT_USAGE);
      return EXIT.ok;
    }
    if (parsed.kind === "version") {
      console.log(`switchboard-client ${VERSION}`);
      return EXIT.ok;
    }
    config = parsed.config;
    if (config.words.length > 0) {
      command = parseCommand(config.words, {
        workMs: config.workMs,
        ask: interactive ? (question) => prompt(question) : undefined,
      });
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeErr(`error: ${error.message}\n${CLIENT_USAGE}\n`);
    return EXIT.usage;
  }
  const printer = new Printer({
    stdout: Deno.stdout,
    stderr: Deno.stderr,
    json: config.json,
    color,
  });
  let security;
  try {
    security = await securityOf(config);
  } catch (error) {
    if (error instanceof PasswordAbortedError) return 130;
    if (!(error instanceof UsageError || error instanceof PasswordInputError)) throw error;
    writeErr(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  try {
    using connection = await Connection.open({ ...config, ...security });
    const answeredErr = await runMode(connection, command, { config, printer, interactive });
    return answeredErr ? EXIT.serverError : EXIT.ok;
  } catch (error) {
    if (!(error instanceof AuthRefusedError)) return exitCodeOf(error);
    printer.print(error.reply);
    return EXIT.serverError;
  }
}

/**
 * The CA to trust (`--tls`, `--cacert`) and the credentials to sign in with
 * (`--user`), read before connecting so that typing a password does not
 * eat into the server's idle timeout.
 */
async function securityOf(
  config: ClientConfig,
): Promise<{ tls: { caCerts: string[] } | undefined; credentials: Credentials | undefined }> {
  const caCerts = config.caCert === undefined ? [] : [await loadCaCert(config.caCert)];
  const credentials = config.user === undefined ? undefined : {
    name: config.user,
    password: await passwordFor(config.user, {
      env: readEnv,
      stdin: Deno.stdin,
      prompts: Deno.stderr,
    }),
  };
  return { tls: config.tls ? { caCerts } : undefined, credentials };
}

/**
 * The mode for `command`: one request, a transfer, or with no command the
 * shell (stdin a terminal) or piped mode; resolves to true if the server
 * answered ERR.
 */
async function runMode(
  connection: Connection,
  command: ClientCommand | undefined,
  options: { config: ClientConfig; printer: Printer; interactive: boolean },
): Promise<boolean> {
  const { config, printer, interactive } = options;
  if (command?.kind === "request") return await runRequest(connection, command.line, printer);
  if (command !== undefined) {
    const progressSink = Deno.stderr.isTerminal() ? Deno.stderr : undefined;
    return await runTransfer(connection, command, { printer, force: config.force, progressSink });
  }
  if (!interactive) return await runPiped(connection, Deno.stdin.readable, printer);
  await runShell(connection, { printer, readLine: (text) => Promise.resolve(prompt(text)) });
  return false;
}

/** Prints the one line for what a mode threw and returns its exit code; anything else is a bug. */
function exitCodeOf(error: unknown): number {
  if (error instanceof IntegrityError) {
    writeErr(`error: integrity check failed: ${error.message}\n`);
    return EXIT.integrity;
  }
  // A local file that is missing, or that `get` would replace without --force.
  if (error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotFound) {
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
