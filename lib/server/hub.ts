/**
 * The hub: the main thread of a running server (docs/architecture.md#threads).
 * It opens what every network thread shares — the users and the
 * certificate, the file root, the KV store, the job pool, the hash cache
 * (services.ts) — and answers the threads' requests for them
 * (hub_services.ts); it sizes the Manager's shared state to the descriptor
 * limit, starts `--threads` network threads (net_thread.ts) that each listen
 * on the port, serves `/metrics` with the totals of all of them, and turns
 * SIGTERM and SIGHUP into a drain and a reload of every thread.
 *
 * A network thread that dies of an uncaught error takes the server down
 * with one line and exit code 1, rather than being replaced: its running
 * slots and queue places are in the shared state with no one left to give
 * them back, and a server that silently lost a share of its capacity (and a
 * share of the port: the kernel keeps sending connections to its listener
 * until the socket closes) would be half alive.
 */
import { formatHostPort } from "../security/address.ts";
import type { SharedPrintLock } from "../lock.ts";
import { localWorkers } from "../worker_thread.ts";
import { descriptorBudget, descriptorsWanted, freeDescriptors } from "./admission/descriptors.ts";
import { SharedAdmission } from "./admission/shared_admission.ts";
import { MAX_LINGERING } from "./admission/turn_away.ts";
import type { ServerConfig } from "./config.ts";
import { exposureWarning, isLoopback } from "./door/gate.ts";
import { MAX_HANDSHAKES } from "./door/tls_port.ts";
import { NATIVE_SOCKET_DESCRIPTORS } from "./door/native_socket.ts";
import { MAX_PROXY_HEADERS } from "./door/proxy_headers.ts";
import { doorShare } from "./door/door.ts";
import { backlogCapNote, readSomaxconn } from "./door/listen.ts";
import { answerThread } from "./hub_services.ts";
import type { Logger } from "./log.ts";
import {
  MAX_CONNECTIONS as METRICS_CONNECTIONS,
  serveMetrics,
} from "./observability/metrics_endpoint.ts";
import { Stats } from "./observability/stats.ts";
import { ServerServices } from "./services.ts";
import { describeStartupError, StartupError } from "./startup_error.ts";
import type { FromThread, GatherAnswer, ToThread } from "./thread_messages.ts";
import { LiveStream } from "./observability/live_stream.ts";
import { type GatheredThread, Gathering } from "./hub_gathering.ts";
import { NET_THREAD_NAME } from "./net_thread.ts";

/** Options of {@linkcode startHub}. */
export interface HubOptions {
  logger: Logger;
  /** The lock every thread's logger takes around its writes. */
  printLock: SharedPrintLock;
  /** The entry file, which a network thread re-enters (server.ts). */
  netModule: URL;
  /** The module the job workers run. */
  jobsModule: URL;
  /** Says the one line of a server that cannot start or must stop (the entry point prints it). */
  onFatal: (line: string) => void;
}

/** A server running somewhere: ask it to drain or reload, learn its exit code. */
export interface RunningServer {
  /** Starts the graceful drain of every thread (docs/protocol.md#shutdown); safe to call twice. */
  shutDown(): void;
  /** Reads the users file and the TLS certificate again (SIGHUP, docs/security.md). */
  reload(): void;
  /** The process exit code, once the server has stopped (or failed to start). */
  readonly exited: Promise<number>;
}

/** One network thread as the hub drives it; it answers the gathering's questions too. */
interface NetThread extends GatheredThread {
  worker: Worker;
  /** The hub's end of the thread's service port. */
  port: MessagePort;
  post(message: ToThread, transfer?: Transferable[]): void;
}

/**
 * Opens the shared services, starts the network threads and resolves once
 * every one listens; or, if the server cannot start, says why in one line
 * through `onFatal` and resolves with the exit code, 1.
 */
export async function startHub(
  config: ServerConfig,
  options: HubOptions,
): Promise<RunningServer | number> {
  const { logger, onFatal } = options;
  const failed = (line: string): number => {
    onFatal(line);
    return 1;
  };
  const stats = new Stats();
  const services = new ServerServices(config, {
    logger,
    spawnWorker: localWorkers(options.jobsModule),
  });
  try {
    await services.open();
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    return failed(describeStartupError(error, config));
  }
  const admission = SharedAdmission.create({
    maxRunning: config.maxRunning,
    queueLimit: fitQueueLimit(config, logger),
    maxPerIp: config.maxPerIp,
    threads: config.threads,
  });
  const threads: NetThread[] = [];
  const exit = Promise.withResolvers<number>();
  let stopping = false;

  const gathering = new Gathering({ config, threads, admission, services, stats });

  const fatal = (line: string) => {
    onFatal(line);
    for (const thread of threads) thread.worker.terminate();
    exit.resolve(1);
  };
  const startThread = (index: number, port: number): Promise<FromThread> => {
    const worker = new Worker(options.netModule, {
      type: "module",
      name: `${NET_THREAD_NAME} ${index}`,
    });
    const channel = new MessageChannel();
    const answers = new Map<number, (answer: GatherAnswer) => void>();
    let nextGather = 1;
    const thread: NetThread = {
      worker,
      port: channel.port1,
      post: (message, transfer = []) => worker.postMessage(message, transfer),
      gather: ((what: "sessions" | "snapshot" | "live") =>
        new Promise<unknown>((resolve) => {
          const id = nextGather++;
          answers.set(id, (answer) => {
            answers.delete(id);
            if ("sessions" in answer) resolve(answer.sessions);
            else if ("live" in answer) resolve(answer.live);
            else resolve(answer.snapshot);
          });
          channel.port1.postMessage({ id, gather: what });
        })) as NetThread["gather"],
    };
    threads.push(thread);
    answerThread(channel.port1, services, {
      stats,
      gathering,
      onGathered: (answer) => answers.get(answer.id)?.(answer),
    });
    const first = Promise.withResolvers<FromThread>();
    worker.onmessage = (event: MessageEvent<FromThread>) => first.resolve(event.data);
    worker.onerror = (event: ErrorEvent) => {
      // Without preventDefault an uncaught error in a worker ends the process with Deno's trace.
      event.preventDefault();
      fatal(
        `network thread ${index} crashed: ${event.message || "unknown error"}; the server stops`,
      );
      first.resolve({ kind: "failed", line: "" });
    };
    thread.post({
      kind: "start",
      start: {
        config,
        thread: index,
        admission: admission.buffer,
        printLock: options.printLock.buffer,
        tls: services.tls,
        port,
        services: channel.port2,
      },
    }, [channel.port2]);
    return first.promise;
  };

  // Thread 0 binds the port asked for (0 picks one); the others then share the port it got.
  const first = await startThread(0, config.port);
  if (first.kind !== "listening") return failedStart(first);
  const rest = await Promise.all(
    Array.from({ length: config.threads - 1 }, (_, i) => startThread(i + 1, first.port)),
  );
  const notListening = rest.find((answer) => answer.kind !== "listening");
  if (notListening !== undefined) return failedStart(notListening);

  const closeMetrics = startMetrics(config, {
    logger,
    // Why `/healthz` should turn clients away now (docs/observability.md#health), or undefined.
    unhealthy: () => {
      if (stopping) return "shutting down";
      const store = services.storeUnreachable();
      return store === undefined ? undefined : `store unreachable: ${store}`;
    },
    gather: () => gathering.metrics(),
    live: new LiveStream(() => gathering.liveSample()),
  });
  if (typeof closeMetrics === "string") return failedStart({ kind: "failed", line: closeMetrics });
  announce(config, {
    logger,
    port: first.port,
    queueLimit: admission.queueLimit,
    tls: !!services.tls,
  });

  const stop = async () => {
    logger.info("shutting down", {
      running: admission.running,
      queued: admission.queued,
      drain_timeout_s: config.drainTimeoutS,
    });
    const stopped = threads.map((thread) =>
      new Promise<void>((resolve) => {
        thread.worker.onmessage = (event: MessageEvent<FromThread>) => {
          if (event.data.kind === "stopped") resolve();
        };
      })
    );
    for (const thread of threads) thread.post({ kind: "shut down" });
    await Promise.all(stopped);
    const served = await gathering.served();
    for (const thread of threads) thread.worker.terminate();
    await services.close();
    await closeMetrics?.();
    logger.info("stopped", { served_total: served });
    await logger.flush();
    exit.resolve(0);
  };
  return {
    shutDown() {
      if (stopping) return;
      stopping = true;
      void stop();
    },
    reload() {
      if (stopping) return;
      void services.reload((files) => {
        for (const thread of threads) thread.post({ kind: "tls", files });
      });
    },
    exited: exit.promise,
  };

  function failedStart(answer: FromThread): number {
    for (const thread of threads) thread.worker.terminate();
    void services.close();
    if (answer.kind === "failed" && answer.line === "") return 1; // a crash, already said
    return failed(answer.kind === "failed" ? answer.line : "a network thread did not start");
  }
}

/** Starts `/metrics` (with --metrics-port): its closer, undefined without, or the line saying why it failed. */
function startMetrics(
  config: ServerConfig,
  options: Omit<Parameters<typeof serveMetrics>[0], "hostname" | "port">,
): (() => Promise<void>) | undefined | string {
  if (!config.metrics) return undefined;
  try {
    const endpoint = serveMetrics({ ...config.metrics, ...options });
    options.logger.info(`metrics on http://${formatHostPort(endpoint.addr)}/metrics`);
    options.logger.info(`live page on http://${formatHostPort(endpoint.addr)}/`);
    return () => endpoint.close();
  } catch (error) {
    return describeStartupError(new StartupError("metrics", error), config);
  }
}

/** The startup line every test and user waits for, and the warning of an exposed port. */
function announce(
  config: ServerConfig,
  options: { logger: Logger; port: number; queueLimit: number; tls: boolean },
): void {
  const where = formatHostPort({ hostname: config.host, port: options.port });
  options.logger.info(
    `listening on ${where}, max ${config.maxRunning} running, queue ${options.queueLimit}` +
      (options.tls ? ", TLS" : "") + (config.echo ? ", echo mode" : "") +
      (config.threads > 1 ? `, ${config.threads} threads` : ""),
  );
  const capped = backlogCapNote(config.backlog, readSomaxconn());
  if (capped !== undefined) options.logger.info(capped);
  if (!isLoopback(config.host)) {
    const warning = exposureWarning(where, { ...config, tls: options.tls });
    if (warning !== undefined) options.logger.warn(warning);
  }
}

/**
 * The queue limit that fits the descriptor limit: --max-running +
 * --queue-limit + the metrics endpoint + every thread's listener, TLS
 * handshakes and lingering refusals + what is open now
 * (docs/protocol.md#limits-and-bad-input), with one warning naming both numbers.
 */
function fitQueueLimit(config: ServerConfig, logger: Logger): number {
  const c = config;
  // Each thread's listener, and its door's share of the TLS handshakes, PROXY headers and
  // refusals lingering that the server holds at once (door.ts `doorShare`).
  const share = (cap: number) => doorShare(cap, c.threads);
  const perConnection = c.tls ? NATIVE_SOCKET_DESCRIPTORS : 1;
  const perThread = 1 + (c.tls ? share(MAX_HANDSHAKES) * perConnection : 0) +
    (c.proxyProtocol ? share(MAX_PROXY_HEADERS) : 0) + share(MAX_LINGERING);
  const settings = {
    maxRunning: c.maxRunning,
    queueLimit: c.queueLimit,
    extra: (c.metrics ? METRICS_CONNECTIONS + 1 : 0) + c.threads * perThread,
    perConnection,
  };
  const free = freeDescriptors(descriptorsWanted(settings));
  if (free === undefined) return c.queueLimit;
  const budget = descriptorBudget(free, settings);
  if (budget.queueLimit === c.queueLimit) return c.queueLimit;
  logger.warn(
    `the descriptor limit leaves ${free} free, below the ${budget.needed} that --max-running ` +
      `${c.maxRunning} and --queue-limit ${c.queueLimit} may need; the queue limit is ` +
      `lowered to ${budget.queueLimit} (raise the limit with ulimit -n)`,
  );
  return budget.queueLimit;
}
