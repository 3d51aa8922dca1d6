/**
 * switchboard-server: parses the command line (docs/server.md#server-options), starts the server
 * in the network thread when it may (lib/server/net_thread.ts says why), and
 * turns signals into a graceful shutdown (docs/protocol.md#shutdown). Everything else is in lib/.
 */
import {
  parseServerArgs,
  SERVER_USAGE,
  SERVER_USAGE_HINT,
  type ServerConfig,
} from "./lib/server/config.ts";
import { VERSION } from "./lib/defaults.ts";
import { Logger } from "./lib/server/log.ts";
import { Server } from "./lib/server/server.ts";
import { describeStartupError, StartupError } from "./lib/server/startup_error.ts";
import { serveJobs } from "./lib/jobs/worker.ts";
import { inWorkerThread, localWorkers, type SpawnWorker } from "./lib/worker_thread.ts";
import {
  EVENT_INTERVAL_VARIABLE,
  inNetThread,
  IO_EVENTS_VARIABLE,
  NET_THREAD_PERMISSION,
  type NetPlacement,
  placeNetwork,
  type RunningServer,
  serveNetThread,
  startNetThread,
} from "./lib/server/net_thread.ts";
import { UsageError } from "./lib/usage_error.ts";
import { initialDirectory, pathsFrom } from "./lib/server/environment.ts";
import { localPath } from "./lib/paths.ts";
import { parsePasswdArgs, passwd, PASSWD_USAGE } from "./lib/security/passwd.ts";
import {
  PasswordAbortedError,
  PasswordInputError,
  readNewPassword,
} from "./lib/security/password_input.ts";
import { UsersFileError } from "./lib/security/users_file.ts";

const encoder = new TextEncoder();

function printError(message: string): void {
  Deno.stderr.writeSync(encoder.encode(`error: ${message}\n`));
}

/**
 * The module the job workers run. From source, and in a compiled binary
 * (which keeps every module of the graph under its own name), that is
 * lib/jobs/worker.ts alone: each worker then loads the job code, not the
 * whole server (measured: 10 MiB of RSS less per worker). A bundle is one
 * file with no lib/ beside it, so there the workers re-enter this file,
 * which serves jobs when it finds itself in a worker thread (see below).
 */
const JOBS_MODULE = import.meta.url.endsWith(".ts")
  ? new URL("./lib/jobs/worker.ts", import.meta.url)
  : new URL(import.meta.url);

/** Entry point; returns the process exit code. */
export async function main(args: readonly string[]): Promise<number> {
  if (args[0] === "passwd") return await passwdMain(args.slice(1));
  let parsed;
  try {
    parsed = parseServerArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(error.message);
    Deno.stderr.writeSync(encoder.encode(SERVER_USAGE_HINT + "\n"));
    return 2;
  }
  if (parsed.kind === "help") {
    console.log(SERVER_USAGE);
    return 0;
  }
  if (parsed.kind === "version") {
    console.log(`switchboard-server ${VERSION}`);
    return 0;
  }
  const config = pathsFrom(parsed.config, initialDirectory());
  const placement = placeNetwork();
  const running = placement === "worker"
    ? startNetThread(new URL(import.meta.url), config, JOBS_MODULE)
    : await serve(config, placement);
  onSignals(running);
  return await running.exited;
}

/** `switchboard-server passwd FILE NAME ROLE` (docs/server.md#server-options): silent on success; Ctrl-C at the prompt exits 130. */
async function passwdMain(args: readonly string[]): Promise<number> {
  try {
    const request = parsePasswdArgs(args);
    const file = localPath(request.file, { cwd: initialDirectory() }).resolved;
    await passwd({ ...request, file }, () => readNewPassword());
    return 0;
  } catch (error) {
    if (error instanceof PasswordAbortedError) return 130;
    if (error instanceof UsageError) {
      printError(error.message);
      Deno.stderr.writeSync(encoder.encode(PASSWD_USAGE + "\n"));
      return 2;
    }
    if (!(error instanceof UsersFileError || error instanceof PasswordInputError)) throw error;
    printError(error.message);
    return 1;
  }
}

/** Starts the server in this thread; a failure to start is printed and becomes exit code 1. */
async function serve(
  config: ServerConfig,
  placement: NetPlacement,
  spawn: SpawnWorker = localWorkers(JOBS_MODULE),
): Promise<RunningServer> {
  const logger = new Logger({
    level: config.logLevel,
    format: config.logFormat,
    sink: Deno.stderr,
  });
  // A bundle or a compiled binary is one file with no lib/ beside it, so
  // the job workers re-enter this module (see the end of this file).
  const server = new Server(config, { logger, spawnWorker: spawn });
  try {
    await server.listen();
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    printError(describeStartupError(error, config));
    return { shutDown: () => {}, reload: () => {}, exited: Promise.resolve(1) };
  }
  if (placement === "here, default scheduling") {
    logger.warn(
      `I/O scheduling is Deno's default: run with ${NET_THREAD_PERMISSION} ` +
        "so that busy clients cannot hold back new ones",
    );
  } else {
    logger.info("I/O scheduling", {
      events_per_turn: Deno.env.get(IO_EVENTS_VARIABLE) ?? "default",
      event_interval: Deno.env.get(EVENT_INTERVAL_VARIABLE) ?? "default",
      thread: placement === "worker" ? "network" : "main",
    });
  }
  // The accept loop ends only on shutdown; then the drain finishes and we exit 0.
  const exited = server.accepting.then(() => server.shutdown()).then(() => 0);
  return { shutDown: () => void server.shutdown(), reload: () => void server.reload(), exited };
}

/**
 * A terminal's Ctrl-C reaches us twice under `deno task`: once from the
 * terminal (the whole foreground process group gets SIGINT) and once
 * forwarded by the task runner. Signals this close together are one signal.
 */
const SAME_SIGNAL_MS = 250;

/**
 * The first SIGINT or SIGTERM starts the drain; a second one exits 130 at
 * once (docs/protocol.md#shutdown). SIGHUP reloads the users file and the TLS certificate
 * (docs/security.md); Windows has no SIGHUP.
 */
function onSignals(server: RunningServer): void {
  let first = 0;
  const onSignal = () => {
    const now = performance.now();
    if (first === 0) {
      first = now;
      server.shutDown();
    } else if (now - first > SAME_SIGNAL_MS) Deno.exit(130);
  };
  const names: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  for (const name of names) Deno.addSignalListener(name, onSignal);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", () => server.reload());
}

// This file is also the network thread and the job workers (see main).
if (inNetThread()) {
  serveNetThread((config: ServerConfig, spawn) => serve(config, "worker", spawn));
} else if (inWorkerThread()) serveJobs();
else if (import.meta.main) Deno.exit(await main(Deno.args));
