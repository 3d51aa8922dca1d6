/**
 * switchboard-server: parses the command line, starts the server (in the
 * network thread when it may, see lib/net_thread.ts), and turns signals into
 * a graceful shutdown (SPEC §2, §6). Everything else is in lib/.
 */
import { parseServerArgs, type ServerConfig, UsageError } from "./lib/config.ts";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_DRAIN_TIMEOUT_S,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT_S,
  DEFAULT_MAX_FILE_SIZE,
  DEFAULT_MAX_LINE,
  DEFAULT_MAX_PER_IP,
  DEFAULT_MAX_RUNNING,
  DEFAULT_PORT,
  DEFAULT_QUEUE_LIMIT,
  DEFAULT_QUEUE_TIMEOUT_S,
  DEFAULT_ROOT_DIR,
  defaultWorkers,
  VERSION,
} from "./lib/defaults.ts";
import { Logger } from "./lib/log.ts";
import { Server, StartupError } from "./lib/server.ts";
import { StoreInUseError } from "./lib/kv_store.ts";
import { inWorkerThread } from "./lib/worker_pool.ts";
import {
  type FromNetThread,
  inNetThread,
  IO_EVENTS_VARIABLE,
  NET_THREAD_NAME,
  NET_THREAD_PERMISSION,
  type NetPlacement,
  placeNetwork,
  type ToNetThread,
} from "./lib/net_thread.ts";
// COUNT workers and the network thread run this very file (see `workerModule`
// below); inside a COUNT worker this import starts the job loop, inside the
// network thread `runNetThread` serves, and `main` is never called in either.
import "./lib/count_worker.ts";

const USAGE = `usage: switchboard-server [PORT [MAX_RUNNING]] [options]

A concurrent line-protocol TCP server: at most MAX_RUNNING clients are served
at once, the rest wait in a FIFO queue. Try it: nc 127.0.0.1 ${DEFAULT_PORT}, then HELP.

options:
  --host H              address to bind (default ${DEFAULT_HOST}; 0.0.0.0 or :: to expose)
  --port P              TCP port, 0 picks a free one (default ${DEFAULT_PORT})
  --max-running N       clients served at once (default ${DEFAULT_MAX_RUNNING})
  --queue-limit Q       clients allowed to wait; beyond it ERR busy (default ${DEFAULT_QUEUE_LIMIT})
  --queue-timeout S     seconds a client may wait, 0 = forever (default ${DEFAULT_QUEUE_TIMEOUT_S})
  --idle-timeout S      seconds a running client may stay silent, 0 = forever (default ${DEFAULT_IDLE_TIMEOUT_S})
  --max-per-ip N        running + queued connections per address, 0 = no limit (default ${DEFAULT_MAX_PER_IP})
  --max-line BYTES      longest request line (default ${DEFAULT_MAX_LINE})
  --root DIR            directory served by the FILE commands (default ${DEFAULT_ROOT_DIR})
  --max-file-size BYTES largest FILE PUT (default ${DEFAULT_MAX_FILE_SIZE})
  --data DIR            where the KV store keeps its database (default ${DEFAULT_DATA_DIR})
  --workers N           worker threads for COUNT jobs (default: CPU count, here ${defaultWorkers()})
  --echo                raw mode: every admitted connection is a byte-for-byte echo
  --metrics-port P      serve Prometheus /metrics and /healthz over HTTP on --host:P
                        (or ADDRESS:P for its own address; 0 picks a free port)
  --drain-timeout S     on shutdown, seconds running clients get to finish (default ${DEFAULT_DRAIN_TIMEOUT_S})
  -v, --verbose         log every request
  -q, --quiet           log nothing
  --log-format F        text or json (default text), on stderr
  -h, --help            show this help
  --version             show the version

Ctrl-C (SIGINT) or SIGTERM drains and exits 0; a second signal exits 130.`;

const encoder = new TextEncoder();

function printError(message: string): void {
  Deno.stderr.writeSync(encoder.encode(`error: ${message}\n`));
}

/** Explains a failure to start in one line, naming the permission flag when one is missing. */
function describeStartupError(error: StartupError, config: ServerConfig): string {
  const cause = error.cause;
  const denied = cause instanceof Deno.errors.NotCapable ||
    cause instanceof Deno.errors.PermissionDenied;
  if (error.stage === "files") {
    if (denied) {
      return `file access to ${config.rootDir} is not granted: run with --allow-read --allow-write`;
    }
    return `cannot use --root ${config.rootDir}: ${
      cause instanceof Error ? cause.message : String(cause)
    }`;
  }
  if (error.stage === "kv") {
    if (cause instanceof StoreInUseError) return cause.message;
    if (cause instanceof TypeError && /openKv is not a function/.test(cause.message)) {
      return "the KV store needs Deno KV: run with --unstable-kv";
    }
    if (denied) {
      return `file access to ${config.dataDir} is not granted: run with --allow-read --allow-write`;
    }
    return `cannot open the KV store in ${config.dataDir}: ${
      cause instanceof Error ? cause.message : String(cause)
    }`;
  }
  if (error.stage === "metrics") {
    const where = `${config.metrics?.hostname}:${config.metrics?.port}`;
    if (denied) return `network access is not granted: run with --allow-net (metrics ${where})`;
    if (cause instanceof Deno.errors.AddrInUse) {
      return `cannot serve metrics on ${where}: address already in use`;
    }
    return `cannot serve metrics on ${where}: ${
      cause instanceof Error ? cause.message : String(cause)
    }`;
  }
  const where = `${config.host}:${config.port}`;
  if (denied) return `network access is not granted: run with --allow-net (${where})`;
  if (cause instanceof Deno.errors.AddrInUse) {
    return `cannot listen on ${where}: address already in use`;
  }
  if (cause instanceof Deno.errors.AddrNotAvailable) {
    return `cannot listen on ${where}: no such local address`;
  }
  return `cannot listen on ${where}: ${cause instanceof Error ? cause.message : String(cause)}`;
}

/** Entry point; returns the process exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseServerArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(error.message);
    Deno.stderr.writeSync(encoder.encode(USAGE + "\n"));
    return 2;
  }
  if (parsed.kind === "help") {
    console.log(USAGE);
    return 0;
  }
  if (parsed.kind === "version") {
    console.log(`switchboard-server ${VERSION}`);
    return 0;
  }
  const config = parsed.config;
  const placement = placeNetwork();
  if (placement !== "worker") return await serveHere(config, placement);
  return await serveInNetThread(config);
}

/** Starts the server in this thread; on failure prints why and returns the exit code. */
async function start(config: ServerConfig, placement: NetPlacement): Promise<Server | number> {
  const logger = new Logger({
    level: config.logLevel,
    format: config.logFormat,
    sink: Deno.stderr,
  });
  // A bundle or a compiled binary is one file with no lib/ beside it, so
  // workers re-enter this module (import.meta.url is the bundle itself there).
  const server = new Server(config, { logger, workerModule: new URL(import.meta.url) });
  try {
    await server.listen();
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    printError(describeStartupError(error, config));
    return 1;
  }
  if (placement === "here, default scheduling") {
    logger.warn(
      `I/O scheduling is Deno's default: run with ${NET_THREAD_PERMISSION} ` +
        "so that busy clients cannot hold back new ones",
    );
  } else {
    logger.info("I/O scheduling", {
      events_per_turn: Deno.env.get(IO_EVENTS_VARIABLE) ?? "default",
      thread: placement === "worker" ? "network" : "main",
    });
  }
  return server;
}

/** Until the server has drained: the accept loop ends only on shutdown. */
async function untilDrained(server: Server): Promise<number> {
  await server.accepting;
  await server.shutdown();
  return 0;
}

/** The first SIGINT or SIGTERM calls `shutDown`; a second one exits 130 at once (SPEC §6). */
function onSignals(shutDown: () => void): void {
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) Deno.exit(130);
    shutDown();
  };
  const names: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  for (const name of names) Deno.addSignalListener(name, onSignal);
}

/** Serves from the main thread (no Worker): the variable is the user's, or not permitted. */
async function serveHere(config: ServerConfig, placement: NetPlacement): Promise<number> {
  const server = await start(config, placement);
  if (typeof server === "number") return server;
  onSignals(() => server.shutdown().then(() => Deno.exit(0)));
  return await untilDrained(server);
}

/**
 * Serves from the network thread (lib/net_thread.ts says why); this thread
 * only forwards signals and exits with the code the network thread reports.
 * An uncaught error there is raised again in this thread by Deno and ends
 * the process with exit code 1, as it would in a single thread.
 */
function serveInNetThread(config: ServerConfig): Promise<number> {
  const thread = new Worker(new URL(import.meta.url), { type: "module", name: NET_THREAD_NAME });
  const { promise, resolve } = Promise.withResolvers<number>();
  thread.onmessage = (event: MessageEvent<FromNetThread>) => resolve(event.data.code);
  const send = (message: ToNetThread<ServerConfig>) => thread.postMessage(message);
  onSignals(() => send({ kind: "shut down" }));
  send({ kind: "start", config });
  return promise;
}

/** The network thread's side: start on the first message, drain on "shut down", report the exit code. */
function runNetThread(): void {
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent<ToNetThread<ServerConfig>>) => void) | null;
    postMessage(message: FromNetThread): void;
  };
  let server: Server | undefined;
  let shutDownEarly = false;
  scope.onmessage = async (event) => {
    if (event.data.kind === "shut down") {
      // Starting may still be under way (the KV store opens first): shut down once it has.
      if (server === undefined) shutDownEarly = true;
      else server.shutdown();
      return;
    }
    const started = await start(event.data.config, "worker");
    if (typeof started === "number") return scope.postMessage({ kind: "exit", code: started });
    server = started;
    if (shutDownEarly) server.shutdown();
    scope.postMessage({ kind: "exit", code: await untilDrained(server) });
  };
}

if (inNetThread()) runNetThread();
if (import.meta.main && !inWorkerThread()) Deno.exit(await main(Deno.args));
