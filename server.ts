/**
 * switchboard-server: parses the command line (docs/server.md#server-options), starts the hub
 * (lib/server/hub.ts), which starts the network threads, and turns signals
 * into a graceful shutdown (docs/protocol.md#shutdown). This file is also what
 * each network thread and each job worker runs (see the end). Everything
 * else is in lib/.
 */
import { parseServerArgs, type ServerConfig } from "./lib/server/config.ts";
import { SERVER_USAGE, SERVER_USAGE_HINT } from "./lib/server/usage.ts";
import { VERSION } from "./lib/defaults.ts";
import { Logger } from "./lib/server/log.ts";
import { Server } from "./lib/server/server.ts";
import { describeStartupError, StartupError } from "./lib/server/startup_error.ts";
import { serveJobs } from "./lib/jobs/worker.ts";
import { inWorkerThread } from "./lib/worker_thread.ts";
import { SharedPrintLock } from "./lib/lock.ts";
import { type RunningServer, startHub } from "./lib/server/hub.ts";
import {
  EVENT_INTERVAL_VARIABLE,
  inNetThread,
  IO_EVENTS_VARIABLE,
  NET_THREAD_PERMISSION,
  scheduleNetwork,
  serveNetThread,
} from "./lib/server/net_thread.ts";
import { UsageError } from "./lib/usage_error.ts";
import type { ThreadStart } from "./lib/server/thread_messages.ts";
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

/**
 * Entry point; returns the process exit code. `netModule` is the file the
 * network threads run (default this one; a test's entry that wraps it
 * passes its own).
 */
export async function main(
  args: readonly string[],
  options: { netModule?: URL } = {},
): Promise<number> {
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
  const scheduling = scheduleNetwork();
  const printLock = new SharedPrintLock();
  const logger = new Logger({
    level: config.logLevel,
    format: config.logFormat,
    sink: Deno.stderr,
    lock: printLock,
  });
  // Signals count from now: one that arrives while the server starts drains it once it listens.
  const signalled: { server?: RunningServer; shutDown: boolean } = { shutDown: false };
  onSignals({
    shutDown: () => {
      if (signalled.server) signalled.server.shutDown();
      else signalled.shutDown = true;
    },
    reload: () => signalled.server?.reload(),
  });
  const running = await startHub(config, {
    logger,
    printLock,
    netModule: options.netModule ?? new URL(import.meta.url),
    jobsModule: JOBS_MODULE,
    onFatal: printError,
  });
  if (typeof running === "number") return running;
  if (scheduling === "default") {
    logger.warn(
      `I/O scheduling is Deno's default: run with ${NET_THREAD_PERMISSION} ` +
        "so that busy clients cannot hold back new ones",
    );
  } else {
    logger.info("I/O scheduling", {
      events_per_turn: Deno.env.get(IO_EVENTS_VARIABLE) ?? "default",
      event_interval: Deno.env.get(EVENT_INTERVAL_VARIABLE) ?? "default",
      thread: "network",
    });
  }
  signalled.server = running;
  if (signalled.shutDown) running.shutDown();
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
function onSignals(server: Pick<RunningServer, "shutDown" | "reload">): void {
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

/** A network thread's server, logging through the print lock all threads share. */
function networkThread(config: ServerConfig, start: ThreadStart) {
  const logger = new Logger({
    level: config.logLevel,
    format: config.logFormat,
    sink: Deno.stderr,
    lock: new SharedPrintLock(start.printLock),
  });
  return { server: new Server(config, { logger, start }), logger };
}

// This file is also each network thread and each job worker (see main).
if (inNetThread()) {
  serveNetThread(
    networkThread,
    (error, config) =>
      error instanceof StartupError ? describeStartupError(error, config) : undefined,
  );
} else if (inWorkerThread()) serveJobs();
else if (import.meta.main) Deno.exit(await main(Deno.args));
