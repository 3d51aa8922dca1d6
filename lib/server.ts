/**
 * The server: `Deno.listen` accepts, every connection becomes a ClientHandler
 * handed to the Manager, and a graceful shutdown drains them (SPEC §6).
 */
import { delay } from "@std/async/delay";
import { ClientHandler } from "./client_handler.ts";
import { buildCommandTable, type ServerInfo, type SessionEntry } from "./commands/mod.ts";
import type { ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { Manager } from "./manager.ts";
import { Stats } from "./stats.ts";
import type { CountJob, CountResult } from "./count_worker.ts";
import { WorkerPool } from "./worker_pool.ts";
import { KvStore } from "./kv_store.ts";
import { FileStore } from "./file_store.ts";
import { RequestDurations, serveMetrics } from "./metrics.ts";
import { BufferPool } from "./buffer_pool.ts";
import { INITIAL_BUFFER_BYTES } from "./protocol.ts";
import { INITIAL_REPLY_BYTES } from "./reply_writer.ts";

/** First pause after a failed accept (EMFILE and the like); doubles up to the max. */
const ACCEPT_BACKOFF_MIN_MS = 5;
/**
 * How often the idle sweep runs: 8 times per --idle-timeout, but at most
 * every 10 ms and at least every second, so a silent client is closed at
 * most 1/8 of the timeout (and at most 1 s) late. One sweep over the
 * running clients replaced a timer
 * per connection, which was 7.7 % of the server's CPU profile while it
 * accepted 1000 connections at once (S4).
 */
export function idleSweepMs(idleTimeoutMs: number): number {
  return Math.max(IDLE_SWEEP_MIN_MS, Math.min(IDLE_SWEEP_MAX_MS, idleTimeoutMs / 8));
}
const IDLE_SWEEP_MIN_MS = 10;
const IDLE_SWEEP_MAX_MS = 1000;

/**
 * Buffers of each kind kept for the next connections: 256 × (4 + 1) KiB at
 * most. Beyond it, a closing connection's buffers are left to the garbage collector.
 */
const POOLED_BUFFERS = 256;
/** Longest pause between accept retries: the server keeps trying, it never spins or dies. */
const ACCEPT_BACKOFF_MAX_MS = 1000;
/** After the drain timeout, how long aborted handlers get to unwind before we stop waiting. */
const ABORT_GRACE_MS = 1000;

/** Options of {@linkcode Server}. */
export interface ServerOptions {
  logger: Logger;
  /**
   * The module COUNT workers run. The entry point passes its own URL (the
   * file re-enters as a worker; see server.ts), so that a bundle or a
   * compiled binary, which have no lib/ folder, work the same as source.
   */
  workerModule?: URL;
}

/** A running switchboard server. */
export class Server {
  readonly config: ServerConfig;
  readonly stats = new Stats();
  readonly manager: Manager<ClientHandler>;
  readonly info: ServerInfo;
  readonly workers: WorkerPool<CountJob, CountResult>;
  readonly files: FileStore;
  /** Request durations by command; only kept when --metrics-port is on. */
  readonly durations: RequestDurations | undefined;
  readonly #logger: Logger;
  readonly #closeHooks: Array<() => Promise<void> | void> = [];
  #listener: Deno.TcpListener | undefined;
  #kv: KvStore | undefined;
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
    const manager = this.manager;
    const logger = this.#logger;
    // Workers start on the first job, so an idle server costs no threads.
    const workers = this.workers = new WorkerPool<CountJob, CountResult>({
      size: config.workers,
      moduleUrl: options.workerModule ?? new URL("./count_worker.ts", import.meta.url),
      onWorkerDeath: (worker, error) => logger.warn("worker died; replaced", { worker, error }),
    });
    this.#closeHooks.push(() => workers.close());
    this.durations = config.metrics ? new RequestDurations() : undefined;
    const files = this.files = new FileStore(config.rootDir, { maxFileSize: config.maxFileSize });
    const kv = () => {
      if (this.#kv === undefined) throw new Error("the KV store is not open");
      return this.#kv;
    };
    this.info = {
      stats: this.stats,
      logger: this.#logger,
      maxRunning: config.maxRunning,
      running: () => manager.running,
      queued: () => manager.queued,
      *sessions(): Generator<SessionEntry> {
        for (const { client, state } of manager.clients()) yield { session: client, state };
      },
      files,
      get kv() {
        return kv();
      },
      workers,
      statsSources: [() => Object.entries(workers.stats())],
    };
  }

  /** The bound address (after {@linkcode listen}). */
  get addr(): Deno.NetAddr {
    if (!this.#listener) throw new Error("the server is not listening");
    return this.#listener.addr;
  }

  /** Registers work to do after the clients are drained (closing a database). */
  onClose(hook: () => Promise<void> | void): void {
    this.#closeHooks.push(hook);
  }

  /**
   * Opens the KV store, binds, and starts accepting. Throws {@linkcode StartupError}
   * naming what failed (the store or the address) with the Deno error as cause.
   */
  async listen(): Promise<Deno.NetAddr> {
    try {
      await this.files.prepare();
    } catch (error) {
      throw new StartupError("files", error);
    }
    try {
      this.#kv = await KvStore.open(this.config.dataDir);
    } catch (error) {
      throw new StartupError("kv", error);
    }
    const kv = this.#kv;
    this.#closeHooks.push(() => kv.close());
    if (this.config.metrics && this.durations) {
      try {
        const endpoint = serveMetrics({
          ...this.config.metrics,
          server: this.info,
          durations: this.durations,
          healthy: () => this.#stopping === undefined,
          logger: this.#logger,
        });
        // Kept open through the drain so that it can be watched; closed last.
        this.#closeHooks.push(() => endpoint.close());
        this.#logger.info(`metrics on http://${formatAddress(endpoint.addr)}/metrics`);
      } catch (error) {
        throw new StartupError("metrics", error);
      }
    }
    try {
      this.#listener = Deno.listen({ hostname: this.config.host, port: this.config.port });
    } catch (error) {
      throw new StartupError("listen", error);
    }
    const addr = this.#listener.addr;
    const c = this.config;
    this.#logger.info(
      `listening on ${formatAddress(addr)}, max ${c.maxRunning} running, queue ${c.queueLimit}` +
        (c.echo ? ", echo mode" : ""),
    );
    if (this.config.idleTimeoutS > 0) {
      const every = idleSweepMs(this.config.idleTimeoutS * 1000);
      const sweep = setInterval(() => this.#sweepIdle(), every);
      this.#closeHooks.push(() => clearInterval(sweep));
    }
    this.#accepting = this.#acceptLoop(this.#listener);
    return addr;
  }

  /** Closes the running clients that have been idle (or not reading) for --idle-timeout. */
  #sweepIdle(): void {
    const now = Date.now();
    for (const { client, state } of this.manager.clients()) {
      if (state !== "running") break; // the queue comes after the running ones
      client.checkIdle(now);
    }
  }

  /** Resolves when the accept loop ends (after shutdown). */
  get accepting(): Promise<void> {
    return this.#accepting ?? Promise.resolve();
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    const commands = buildCommandTable();
    const handlerOptions = {
      maxLine: this.config.maxLine,
      idleTimeoutMs: this.config.idleTimeoutS * 1000,
      echo: this.config.echo,
      commands,
      server: this.info,
      logger: this.#logger,
      stats: this.stats,
      durations: this.durations,
      buffers: {
        frames: new BufferPool(INITIAL_BUFFER_BYTES, POOLED_BUFFERS),
        replies: new BufferPool(INITIAL_REPLY_BYTES, POOLED_BUFFERS),
      },
    };
    let backoff = ACCEPT_BACKOFF_MIN_MS;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        // EMFILE/ENFILE and friends: wait for descriptors to free up.
        this.#logger.warn("accept failed; retrying", { error: String(error), retry_ms: backoff });
        await delay(backoff);
        backoff = Math.min(backoff * 2, ACCEPT_BACKOFF_MAX_MS);
        continue;
      }
      backoff = ACCEPT_BACKOFF_MIN_MS;
      try {
        conn.setNoDelay(true);
      } catch {
        // The peer may already be gone; the handler will find out.
      }
      const remote = conn.remoteAddr;
      const handler = new ClientHandler(conn, remote, handlerOptions);
      this.#logger.info("connection opened", {
        client: handler.id,
        address: formatAddress(remote),
      });
      this.manager.admit(handler);
    }
  }

  /**
   * Graceful shutdown (SPEC §6): stop accepting, refuse the queue, let
   * running clients finish the request in hand, close the rest after the
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
    try {
      this.#listener?.close();
    } catch {
      // Already closed.
    }
    await this.#accepting;
    this.manager.shutdown();
    const idle = this.manager.whenIdle();
    if (!await settlesWithin(idle, this.config.drainTimeoutS * 1000)) {
      this.#logger.info("drain timeout passed; closing remaining clients", {
        running: this.manager.running,
      });
      this.manager.abortAll();
      await settlesWithin(idle, ABORT_GRACE_MS);
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

/** The server could not start: `stage` says what failed, `cause` is Deno's error. */
export class StartupError extends Error {
  override name = "StartupError";
  constructor(
    readonly stage: "files" | "kv" | "metrics" | "listen",
    override readonly cause: unknown,
  ) {
    super(`${stage}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** True if `promise` settles within `ms`; the timer is cleared either way. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(addr: { hostname: string; port: number }): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
