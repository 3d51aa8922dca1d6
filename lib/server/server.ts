/**
 * The server: `Deno.listen` (or the TLS port) accepts, every connection
 * passes the door — its TLS handshake, the address lists, protected mode —
 * and becomes a ClientHandler handed to the Manager, and a graceful
 * shutdown drains them (docs/protocol.md#admission-the-queue-and-its-limits, docs/protocol.md#shutdown, docs/security.md). The services the commands use,
 * and the order in which they open, reload and close, are in services.ts.
 */
import { deadline } from "@std/async/deadline";
import { BufferPool } from "./connection/buffer_pool.ts";
import type { SessionEntry } from "../commands/command.ts";
import { CommandTable } from "../commands/mod.ts";
import type { Job, JobResult } from "../jobs/worker.ts";
import type { Logger } from "./log.ts";
import { INITIAL_BUFFER_BYTES } from "../protocol/mod.ts";
import type { FileHashes } from "../stores/file_hashes.ts";
import type { FileStorage } from "../stores/store.ts";
import type { WorkerPool } from "../jobs/pool.ts";
import { ClientHandler, type HandlerOptions } from "./connection/client_handler.ts";
import type { ServerConfig } from "./config.ts";
import { acceptLoop } from "./door/acceptor.ts";
import { descriptorBudget, descriptorsWanted, freeDescriptors } from "./admission/descriptors.ts";
import {
  MAX_CONNECTIONS as METRICS_CONNECTIONS,
  serveMetrics,
} from "./observability/metrics_endpoint.ts";
import { startTimeoutSweep } from "./connection/timeout_sweep.ts";
import { Manager } from "./admission/manager.ts";
import { RequestDurations } from "./observability/metrics.ts";
import { LiveStream } from "./observability/live_stream.ts";
import { sampleServer } from "./observability/live_sample.ts";
import { INITIAL_REPLY_BYTES } from "./connection/reply_writer.ts";
import { StartupError } from "./startup_error.ts";
import { Stats } from "./observability/stats.ts";
import { formatHostPort } from "../security/address.ts";
import { exposureWarning, gatePolicy, isLoopback } from "./door/gate.ts";
import { Door } from "./door/door.ts";
import { ServerServices, type ServicesOptions } from "./services.ts";
import { MAX_HANDSHAKES } from "./door/tls_port.ts";
import { backlogCapNote, listenClients, readSomaxconn } from "./door/listen.ts";
import { MAX_LINGERING } from "./admission/turn_away.ts";
import { MAX_PROXY_HEADERS } from "./door/proxy_headers.ts";
import { closeQuietly } from "../io.ts";

/** After the drain timeout, how long aborted handlers get to unwind before we stop waiting. */
const ABORT_GRACE_MS = 1000;
/**
 * Buffers of each kind kept for the next connections: 256 × (4 + 1) KiB at
 * most. Beyond it, a closing connection's buffers are left to the garbage collector.
 */
const POOLED_BUFFERS = 256;

/** Options of {@linkcode Server}: the logger, and how its services start worker threads. */
export interface ServerOptions extends ServicesOptions {}

/** A running switchboard server. */
export class Server {
  readonly config: ServerConfig;
  readonly stats = new Stats();
  readonly manager: Manager<ClientHandler>;
  readonly workers: WorkerPool<Job, JobResult>;
  /** GET's sha256: cached, and computed once per file version on the worker threads. */
  readonly hashes: FileHashes;
  readonly files: FileStorage;
  /** Request durations by command; only kept when --metrics-port is on. */
  readonly durations: RequestDurations | undefined;
  readonly #logger: Logger;
  /** Files, KV, worker threads, the users: what the commands use. */
  readonly #services: ServerServices;
  readonly #closeHooks: Array<() => Promise<void> | void> = [];
  /** What accepted connections pass before the Manager (after {@linkcode listen}). */
  #door: Door | undefined;
  #listener: Deno.TcpListener | undefined;
  #accepting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: ServerConfig, options: ServerOptions) {
    this.config = config;
    this.#logger = options.logger;
    this.manager = new Manager<ClientHandler>({
      maxRunning: config.maxRunning,
      queueLimit: config.queueLimit,
      queueTimeoutMs: config.queueTimeoutS * 1000,
      maxPerIp: config.maxPerIp,
      stats: this.stats,
      logger: this.#logger,
    });
    const services = this.#services = new ServerServices(config, options);
    this.workers = services.workers;
    this.hashes = services.hashes;
    this.files = services.files;
    // On shutdown, after the drain, the services close first (services.ts says in what order),
    // then what listen adds: the metrics endpoint, the timeout sweep.
    this.#closeHooks.push(() => services.close());
    this.durations = config.metrics ? new RequestDurations() : undefined;
  }

  /** Whether KV and FILE can be served now (false while the `--store` database is unreachable): for /healthz. */
  storeReachable(): boolean {
    return this.#services.storeReachable();
  }

  /** Handlers running now. */
  running(): number {
    return this.manager.running;
  }

  /** Handlers waiting now. */
  queued(): number {
    return this.manager.queued;
  }

  /** `--max-running`. */
  get maxRunning(): number {
    return this.config.maxRunning;
  }

  /** The STATS lines, in docs/protocol.md#commands order: counters, gauges, then the worker pool's. */
  *counters(): Generator<[string, number]> {
    const s = this.stats;
    yield ["uptime_s", s.uptimeSeconds];
    yield ["max_running", this.config.maxRunning];
    yield ["running", this.manager.running];
    yield ["queued", this.manager.queued];
    yield ["accepted_total", s.accepted_total];
    yield ["served_total", s.served_total];
    yield ["rejected_total", s.rejected_total];
    yield ["timeouts_total", s.timeouts_total];
    yield ["commands_total", s.commands_total];
    yield ["bytes_in", s.bytes_in];
    yield ["bytes_out", s.bytes_out];
    yield* Object.entries(this.workers.stats());
    yield ["hashes_total", this.hashes.computedTotal];
    yield ["denied_total", s.denied_total];
    yield ["auth_failures_total", s.auth_failures_total];
    yield ["tls_failures_total", s.tls_failures_total];
    yield ["proxy_errors_total", s.proxy_errors_total];
  }

  /** Every connection for WHO: running ones, then the queue in order. */
  *#sessions(): Generator<SessionEntry> {
    for (const { handler, state } of this.manager.handlers()) yield { session: handler, state };
  }

  /** The bound address (after {@linkcode listen}). */
  get addr(): Deno.NetAddr {
    if (!this.#listener) throw new Error("the server is not listening");
    return this.#listener.addr;
  }

  /**
   * Reads the users file and the TLS certificate, prepares the file root,
   * opens the KV store, starts the worker threads, fits the queue to the
   * descriptor limit, starts the metrics endpoint, binds, and starts
   * accepting. In `--echo` mode there is no protocol, so none of the
   * services is opened (services.ts). Throws {@linkcode StartupError}
   * naming what failed, with the Deno error as cause.
   */
  async listen(): Promise<Deno.NetAddr> {
    const c = this.config;
    // First: a malformed users file should stop the server before anything
    // opens, the metrics endpoint and the port included.
    await this.#services.open();
    this.#fitDescriptors();
    if (c.metrics && this.durations) {
      try {
        const endpoint = serveMetrics({
          ...c.metrics,
          server: this,
          durations: this.durations,
          unhealthy: () => this.#unhealthy(),
          logger: this.#logger,
          live: this.#liveStream(),
        });
        // Kept open through the drain so that it can be watched; closed last.
        this.#closeHooks.push(() => endpoint.close());
        this.#logger.info(`metrics on http://${formatHostPort(endpoint.addr)}/metrics`);
        this.#logger.info(`live page on http://${formatHostPort(endpoint.addr)}/`);
      } catch (error) {
        throw new StartupError("metrics", error);
      }
    }
    const tls = this.#services.tls;
    try {
      this.#listener = listenClients({ hostname: c.host, port: c.port, backlog: c.backlog });
    } catch (error) {
      throw new StartupError("listen", error);
    }
    const addr = this.#listener.addr;
    this.#logger.info(
      `listening on ${formatHostPort(addr)}, max ${c.maxRunning} running, ` +
        `queue ${this.manager.queueLimit}` + (tls ? ", TLS" : "") + (c.echo ? ", echo mode" : ""),
    );
    const capped = backlogCapNote(c.backlog, readSomaxconn());
    if (capped !== undefined) this.#logger.info(capped);
    if (!isLoopback(addr.hostname)) {
      const warning = exposureWarning(formatHostPort(addr), { ...c, tls: tls !== undefined });
      if (warning !== undefined) this.#logger.warn(warning);
    }
    const manager = this.manager;
    const stopSweep = startTimeoutSweep(function* () {
      for (const { handler, state } of manager.handlers()) {
        if (state !== "running") return; // the queue comes after the running ones
        yield handler;
      }
    }, [c.idleTimeoutS * 1000, c.requestTimeoutS * 1000]);
    this.#closeHooks.push(stopSweep);
    this.#accepting = this.#accept(this.#listener, this.#door = this.#makeDoor());
    return addr;
  }

  /** The live page's stream (docs/observability.md#live-view): samples of this server. */
  #liveStream(): LiveStream {
    const source = {
      maxRunning: this.config.maxRunning,
      connections: () => this.manager.handlers(),
      counters: () => this.counters(),
      durations: this.durations,
    };
    return new LiveStream(() => sampleServer(source, this.stats.startedAt));
  }

  /**
   * Lowers the queue limit when the descriptor limit cannot hold
   * --max-running + --queue-limit + the metrics endpoint + what the server
   * already has open (docs/protocol.md#limits-and-bad-input), with one warning naming both numbers.
   */
  #fitDescriptors(): void {
    const c = this.config;
    const settings = {
      maxRunning: c.maxRunning,
      queueLimit: c.queueLimit,
      // What the door may hold besides: TLS handshakes, PROXY headers, refused clients lingering.
      extra: (c.metrics ? METRICS_CONNECTIONS + 1 : 0) + (c.tls ? MAX_HANDSHAKES : 0) +
        (c.proxyProtocol ? MAX_PROXY_HEADERS : 0) + MAX_LINGERING,
    };
    const free = freeDescriptors(descriptorsWanted(settings));
    if (free === undefined) return;
    const budget = descriptorBudget(free, settings);
    if (budget.queueLimit === c.queueLimit) return;
    this.manager.setQueueLimit(budget.queueLimit);
    this.#logger.warn(
      `the descriptor limit leaves ${free} free, below the ${budget.needed} that --max-running ` +
        `${c.maxRunning} and --queue-limit ${c.queueLimit} may need; the queue limit is ` +
        `lowered to ${budget.queueLimit} (raise the limit with ulimit -n)`,
    );
  }

  /** Why `/healthz` should turn clients away now (docs/observability.md#health), or undefined. */
  #unhealthy(): string | undefined {
    if (this.#stopping !== undefined) return "shutting down";
    const store = this.#services.storeUnreachable();
    return store === undefined ? undefined : `store unreachable: ${store}`;
  }

  /** Resolves when the accept loop ends (after shutdown). */
  get accepting(): Promise<void> {
    return this.#accepting ?? Promise.resolve();
  }

  /**
   * Reads the users file and the TLS certificate and key again (SIGHUP,
   * docs/security.md): new users count from the next AUTH, a new certificate from
   * the next connection. What fails to load keeps its old contents, with
   * one error line. Never throws.
   */
  async reload(): Promise<void> {
    if (this.#stopping !== undefined) return;
    await this.#services.reload((files) => {
      this.#door?.replaceCertificate(files);
    });
  }

  /**
   * The door every accepted connection passes (door.ts: the address lists,
   * protected mode), which makes a ClientHandler of each one let in and
   * hands it to the Manager.
   */
  #makeDoor(): Door {
    const handlerOptions: HandlerOptions = {
      maxLine: this.config.maxLine,
      idleTimeoutMs: this.config.idleTimeoutS * 1000,
      requestTimeoutMs: this.config.requestTimeoutS * 1000,
      minRate: this.config.minRate,
      echo: this.config.echo,
      authRequired: this.config.usersFile !== undefined,
      commands: new CommandTable(),
      services: this.#services.forCommands(this.stats, {
        sessions: () => this.#sessions(),
        counters: () => this.counters(),
      }),
      logger: this.#logger,
      stats: this.stats,
      durations: this.durations,
      buffers: {
        frames: new BufferPool(INITIAL_BUFFER_BYTES, POOLED_BUFFERS),
        replies: new BufferPool(INITIAL_REPLY_BYTES, POOLED_BUFFERS),
      },
    };
    const tls = this.#services.tls;
    return new Door({
      policy: gatePolicy(this.config),
      tls: tls && { files: tls, timeoutMs: this.config.requestTimeoutS * 1000 },
      stats: this.stats,
      logger: this.#logger,
      proxy: this.config.proxyProtocol === undefined ? undefined : {
        from: this.config.proxyProtocol,
        timeoutMs: this.config.requestTimeoutS * 1000,
      },
      admit: (conn, remote) => {
        const handler = new ClientHandler(conn, remote, handlerOptions);
        const own = conn.remoteAddr as Deno.NetAddr;
        this.#logger.info("connection opened", {
          client: handler.id,
          address: formatHostPort(remote),
          // Named by a PROXY header: which balancer it came through.
          ...(own.hostname === remote.hostname && own.port === remote.port
            ? {}
            : { via: formatHostPort(own) }),
        });
        this.manager.admit(handler);
      },
    });
  }

  /** Accepts until shutdown: every connection passes the door. */
  #accept(listener: Deno.TcpListener, door: Door): Promise<void> {
    return acceptLoop(listener, (conn) => {
      try {
        conn.setNoDelay(true);
      } catch {
        // The peer may already be gone; the handler will find out.
      }
      door.pass(conn);
    }, { logger: this.#logger, what: "clients", closed: () => this.#stopping !== undefined });
  }

  /**
   * Graceful shutdown (docs/protocol.md#shutdown): stop accepting, refuse the queue, let
   * running handlers finish the request in hand, close the rest after the
   * drain timeout, then run the close hooks. Safe to call twice.
   */
  shutdown(): Promise<void> {
    return this.#stopping ??= this.#stop();
  }

  async #stop(): Promise<void> {
    this.#logger.info("shutting down", {
      running: this.manager.running,
      queued: this.manager.queued,
      drain_timeout_s: this.config.drainTimeoutS,
    });
    closeQuietly(this.#listener);
    await this.#accepting;
    this.#door?.close();
    this.manager.shutdown();
    const idle = this.manager.whenIdle();
    const drained = await deadline(idle, this.config.drainTimeoutS * 1000).then(
      () => true,
      () => false,
    );
    if (!drained) {
      this.#logger.info("drain timeout passed; closing remaining clients", {
        running: this.manager.running,
      });
      this.manager.abortAll();
      await deadline(idle, ABORT_GRACE_MS).catch(() => {});
    }
    for (const hook of this.#closeHooks) {
      try {
        await hook();
      } catch (error) {
        this.#logger.warn("close hook failed", { error: String(error) });
      }
    }
    this.#logger.info("stopped", { served_total: this.stats.served_total });
    await this.#logger.flush();
  }
}
