/**
 * The server as one network thread runs it: `Deno.listen` (or the TLS port)
 * accepts, every connection passes the door — its TLS handshake, the
 * address lists, protected mode — and becomes a ClientHandler handed to the
 * Manager, and a graceful shutdown drains them
 * (docs/protocol.md#admission-the-queue-and-its-limits, docs/protocol.md#shutdown,
 * docs/security.md). With `--threads N`, N of these listen on one port
 * (SO_REUSEPORT) and share one Manager in shared memory; the services they
 * share (KV, jobs, hashes, AUTH, WHO and STATS across threads) are the
 * hub's, on the main thread (hub.ts), reached through remote_services.ts.
 */
import { deadline } from "@std/async/deadline";
import { BufferPool } from "./connection/buffer_pool.ts";
import type { SessionEntry } from "../commands/command.ts";
import { CommandTable } from "../commands/mod.ts";
import { type LogFields, Logger } from "./log.ts";
import { INITIAL_BUFFER_BYTES } from "../protocol/mod.ts";
import { FileStore } from "../stores/file_store.ts";
import type { FileStorage, KeyValueStore } from "../stores/store.ts";
import { PostgresDatabase } from "../stores/postgres/database.ts";
import { PostgresFileStore } from "../stores/postgres/files.ts";
import { PostgresKvStore } from "../stores/postgres/kv.ts";
import { DEFAULT_REQUEST_TIMEOUT_S } from "../defaults.ts";
import { ClientHandler, type HandlerOptions } from "./connection/client_handler.ts";
import type { ServerConfig } from "./config.ts";
import { acceptLoop } from "./door/acceptor.ts";
import { startTimeoutSweep } from "./connection/timeout_sweep.ts";
import { Manager } from "./admission/manager.ts";
import { SharedAdmission } from "./admission/shared_admission.ts";
import { MAX_ROWS } from "./observability/live_sample.ts";
import { RequestDurations } from "./observability/metrics.ts";
import { INITIAL_REPLY_BYTES } from "./connection/reply_writer.ts";
import { StartupError } from "./startup_error.ts";
import { Stats } from "./observability/stats.ts";
import { formatHostPort } from "../security/address.ts";
import type { TlsFiles } from "../security/tls_files.ts";
import { gatePolicy } from "./door/gate.ts";
import { Door } from "./door/door.ts";
import { listenClients } from "./door/listen.ts";
import { closeQuietly } from "../io.ts";
import { RemoteServices } from "./remote_services.ts";
import type { LiveEntry, ThreadSnapshot, ThreadStart } from "./thread_messages.ts";

/** After the drain timeout, how long aborted handlers get to unwind before we stop waiting. */
const ABORT_GRACE_MS = 1000;
/**
 * Buffers of each kind kept for the next connections: 256 × (4 + 1) KiB at
 * most. Beyond it, a closing connection's buffers are left to the garbage collector.
 */
const POOLED_BUFFERS = 256;

/**
 * What a network thread's own `--store` connections may log: that they made
 * the tables (whichever connection finds the database first makes them, and
 * says so once). Their episodes of unreachability are the hub's to log, once
 * for the server: they tell it (DatabaseOptions.onDown).
 */
class TablesOnlyLogger extends Logger {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    super({ level: "quiet" });
    this.#logger = logger;
  }

  override info(message: string, fields?: LogFields): void {
    if (message.startsWith("store: created the tables")) this.#logger.info(message, fields);
  }
}

/** Options of {@linkcode Server}. */
export interface ServerOptions {
  logger: Logger;
  /** This thread's number, the shared state and the hub's port (thread_messages.ts). */
  start: ThreadStart;
}

/** One network thread of a running switchboard server. */
export class Server {
  readonly config: ServerConfig;
  /** This thread's counters; STATS adds up every thread's. */
  readonly stats = new Stats();
  readonly manager: Manager<ClientHandler>;
  readonly files: FileStorage;
  /**
   * KV: with `--store`, this thread's own store on its own connections (see
   * the constructor); otherwise the hub's embedded store, reached by message.
   */
  readonly kv: KeyValueStore;
  /** Request durations by command; only kept when --metrics-port is on. */
  readonly durations: RequestDurations | undefined;
  readonly #logger: Logger;
  readonly #start: ThreadStart;
  /** Jobs, hashes, AUTH, WHO and STATS (and the embedded KV): the hub's, shared by every thread. */
  readonly #services: RemoteServices;
  readonly #closeHooks: Array<() => Promise<void> | void> = [];
  /** What accepted connections pass before the Manager (after {@linkcode listen}). */
  #door: Door | undefined;
  #listener: Deno.TcpListener | undefined;
  /** This thread's own connections to the `--store` database, for KV and FILE (see the constructor). */
  readonly #database: PostgresDatabase | undefined;
  #accepting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: ServerConfig, options: ServerOptions) {
    this.config = config;
    this.#logger = options.logger;
    const start = this.#start = options.start;
    this.manager = new Manager<ClientHandler>({
      maxRunning: config.maxRunning,
      queueTimeoutMs: config.queueTimeoutS * 1000,
      shared: { admission: SharedAdmission.attach(start.admission), thread: start.thread },
      stats: this.stats,
      logger: this.#logger,
    });
    const services = this.#services = new RemoteServices(start.services, {
      sessions: () => [...this.#sessions()],
      snapshot: () => this.#snapshot(),
      live: () => [...this.#live()],
    });
    if (config.store !== undefined) {
      // KV and FILE go through connections of this thread's own: the
      // database keeps them atomic and ordered for every thread as it does
      // for every server, so nothing needs the hub in between. A transfer is
      // many round trips; a KV GET through the hub cost two messages between
      // threads, which halved GETs per second (12,852/s against 28,522/s without,
      // deno task bench --quick --only PGKV, docs/performance.md#postgresql-store-where-the-time-goes).
      const timeoutS = config.requestTimeoutS || DEFAULT_REQUEST_TIMEOUT_S;
      const database = this.#database = PostgresDatabase.connect(config.store, {
        logger: new TablesOnlyLogger(options.logger),
        callTimeoutMs: timeoutS * 1000,
        // The threads share the server's connections to the database (database.ts).
        share: 1 / config.threads,
        // Its outages are logged by the hub's pool, once for the server.
        onDown: () => services.storeDown(),
      });
      this.files = new PostgresFileStore(database, { maxFileSize: config.maxFileSize });
      this.kv = new PostgresKvStore(database);
      this.#closeHooks.push(() => database.close());
    } else {
      // The files are on disk, shared by nature; the hashes, the listings and KV are the hub's.
      this.#database = undefined;
      this.kv = services.kv;
      this.files = new FileStore(config.rootDir, {
        maxFileSize: config.maxFileSize,
        hashes: services.hashes,
        list: () => services.list(),
      });
    }
    this.durations = config.metrics ? new RequestDurations() : undefined;
  }

  /** This thread's counters and request durations, for the hub's STATS and /metrics. */
  #snapshot(): ThreadSnapshot {
    return { stats: this.stats.snapshot(), durations: this.durations?.snapshot() ?? {} };
  }

  /** This thread's connections for WHO, as they cross to the hub: running ones, then the queue. */
  *#sessions(): Generator<SessionEntry> {
    for (const { handler, state } of this.manager.handlers()) {
      const { id, address, port, connectedAt, identity } = handler;
      yield { session: { id, address, port, connectedAt, identity, user: undefined }, state };
    }
  }

  /**
   * This thread's connections for the live page, with their times as Unix
   * milliseconds: each thread's `performance.now()` counts from its own start.
   * At most {@linkcode MAX_ROWS} running (the first started) and the first
   * MAX_ROWS queued: the page shows no more rows than that, and the totals
   * come from the shared counts. Every connection as a row, 5 times a
   * second, slowed the port for everyone: `deno task bench --only LIVEQ`
   * (10,000 idle connections, two threads), the page open against closed,
   * two runs: throughput 0.68×, 0.71× and PING p99 2.30×, 2.12× with every
   * row; 1.00×, 0.95× and 1.07×, 1.05× with this cap.
   */
  *#live(): Generator<LiveEntry> {
    const origin = performance.timeOrigin;
    let running = 0;
    let queued = 0;
    for (const { handler, state } of this.manager.handlers()) {
      if (state === "running" ? ++running > MAX_ROWS : ++queued > MAX_ROWS) {
        if (state === "queued") break; // the queue comes after every running one
        continue;
      }
      const { id, address, port, identity, stateSince, activity } = handler;
      yield {
        state,
        handler: {
          id,
          address,
          port,
          identity: identity && { name: identity.name },
          stateSince: origin + stateSince,
          activity: {
            current: activity.current,
            currentSince: origin + activity.currentSince,
            last: activity.last,
          },
        },
      };
    }
  }

  /** The bound address (after {@linkcode listen}). */
  get addr(): Deno.NetAddr {
    if (!this.#listener) throw new Error("the server is not listening");
    return this.#listener.addr;
  }

  /**
   * Binds (sharing the port with the other network threads when there are
   * several: SO_REUSEPORT) and starts accepting. Throws
   * {@linkcode StartupError} naming what failed, with the Deno error as cause.
   */
  async listen(): Promise<Deno.NetAddr> {
    const c = this.config;
    if (this.#database !== undefined && !c.echo) {
      try {
        await this.#database.open();
      } catch (error) {
        throw new StartupError("store", error);
      }
    }
    try {
      this.#listener = listenClients({
        hostname: c.host,
        port: this.#start.port,
        backlog: c.backlog,
        reusePort: c.threads > 1,
      });
    } catch (error) {
      throw new StartupError("listen", error);
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
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Resolves when the accept loop ends (after shutdown). */
  get accepting(): Promise<void> {
    return this.#accepting ?? Promise.resolve();
  }

  /**
   * A reloaded certificate and key (SIGHUP, docs/security.md; the hub reads
   * them): in force from the next handshake.
   */
  useTls(files: TlsFiles): void {
    if (this.#stopping !== undefined) return;
    this.#door?.replaceCertificate(files);
  }

  /**
   * The door every accepted connection passes (door.ts: its TLS handshake,
   * the address lists, protected mode), which makes a ClientHandler of each
   * one let in and hands it to the Manager.
   */
  #makeDoor(): Door {
    const remote = this.#services;
    const handlerOptions: HandlerOptions = {
      maxLine: this.config.maxLine,
      idleTimeoutMs: this.config.idleTimeoutS * 1000,
      requestTimeoutMs: this.config.requestTimeoutS * 1000,
      minRate: this.config.minRate,
      echo: this.config.echo,
      authRequired: this.config.usersFile !== undefined,
      commands: new CommandTable(),
      nextId: () => this.manager.nextId(),
      services: {
        logger: this.#logger,
        files: this.files,
        kv: this.kv,
        workers: remote.workers,
        auth: this.config.usersFile === undefined ? undefined : remote.auth,
        sessions: () => remote.sessions(),
        counters: () => remote.counters(),
      },
      logger: this.#logger,
      stats: this.stats,
      durations: this.durations,
      buffers: {
        frames: new BufferPool(INITIAL_BUFFER_BYTES, POOLED_BUFFERS),
        replies: new BufferPool(INITIAL_REPLY_BYTES, POOLED_BUFFERS),
      },
    };
    // Which thread took a connection is for debugging (-v): the kernel decides it, not the client.
    const thread = this.config.threads > 1 && this.#logger.debugEnabled
      ? this.#start.thread
      : undefined;
    const tls = this.#start.tls;
    return new Door({
      policy: gatePolicy(this.config),
      tls: tls && { files: tls, timeoutMs: this.config.requestTimeoutS * 1000 },
      threads: this.config.threads,
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
          thread,
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
   * Graceful shutdown of this thread (docs/protocol.md#shutdown): stop
   * accepting, refuse the queue, let running handlers finish the request in
   * hand, close the rest after the drain timeout. The shared services close
   * with the hub, after every thread has drained. Safe to call twice.
   */
  shutdown(): Promise<void> {
    return this.#stopping ??= this.#stop();
  }

  async #stop(): Promise<void> {
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
        thread: this.config.threads > 1 ? this.#start.thread : undefined,
      });
      this.manager.abortAll();
      await deadline(idle, ABORT_GRACE_MS).catch(() => {});
    }
    this.manager.close();
    for (const hook of this.#closeHooks) {
      try {
        await hook();
      } catch (error) {
        this.#logger.warn("close hook failed", { error: String(error) });
      }
    }
    await this.#logger.flush();
  }
}
