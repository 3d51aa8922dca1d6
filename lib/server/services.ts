/**
 * The services every network thread shares — the files, the KV store, the
 * worker threads, the users (and the TLS certificate read with them) — and
 * the order in which they open, reload on SIGHUP and close. They live on
 * the main thread with the hub (hub.ts), which answers the network threads'
 * requests for them (hub_services.ts). The one place that picks the stores'
 * backend: embedded (`--root`, `--data`) or the shared PostgreSQL database
 * of `--store` (docs/several-servers.md#the-shared-store), whose KV and FILE
 * transfers each network thread serves on connections of its own
 * (server.ts): the database, not the hub, keeps them atomic.
 */
import type { AuthService } from "../commands/command.ts";
import { MAX_JOBS_WAITING, MAX_TOTAL_WORK_MS } from "../commands/count.ts";
import { HASH_JOB_COST } from "../jobs/hash_job.ts";
import { LIST_JOB_COST } from "../jobs/list_job.ts";
import type { Job, JobResult } from "../jobs/worker.ts";
import type { Logger } from "./log.ts";
import type { TlsFiles } from "../security/tls_files.ts";
import { FileHashes } from "../stores/file_hashes.ts";
import type { FileIdentity } from "../stores/file_identity.ts";
import { FileStore } from "../stores/file_store.ts";
import { KvStore } from "../stores/kv_store.ts";
import type { KeyValueStore } from "../stores/store.ts";
import { PostgresDatabase } from "../stores/postgres/database.ts";
import { DEFAULT_REQUEST_TIMEOUT_S } from "../defaults.ts";
import { WorkerPool } from "../jobs/pool.ts";
import { localWorkers, type SpawnWorker } from "../worker_thread.ts";
import type { ServerConfig } from "./config.ts";
import { SecurityFiles } from "./security_files.ts";
import { StartupError } from "./startup_error.ts";
import { checkWritableDirectory } from "./path_checks.ts";
import type { Stats } from "./observability/stats.ts";

/** Options of {@linkcode ServerServices}. */
export interface ServicesOptions {
  logger: Logger;
  /**
   * Starts the worker threads (default: Web Workers of this thread running
   * lib/jobs/worker.ts). The entry point passes workers that run its own
   * file (it re-enters as a worker; see server.ts), so that a bundle or a
   * compiled binary, which have no lib/ folder, work the same as source.
   */
  spawnWorker?: SpawnWorker;
}

/** The server's services: built with the server, opened by {@linkcode open}, closed by {@linkcode close}. */
export class ServerServices {
  readonly workers: WorkerPool<Job, JobResult>;
  /** GET's sha256: cached, and computed once per file version on the worker threads. */
  readonly hashes: FileHashes;
  /**
   * The embedded file store (without `--store`): its root is prepared at
   * open, and the threads' FILE LISTs are built here. With `--store` there is
   * none: each network thread serves FILE on the database itself (server.ts).
   */
  readonly files: FileStore | undefined;
  /** The `--store` database; undefined for the embedded stores. */
  readonly #database: PostgresDatabase | undefined;
  readonly #config: ServerConfig;
  readonly #logger: Logger;
  /** The users and the certificate (after {@linkcode open}). */
  #security: SecurityFiles | undefined;
  #kv: KeyValueStore | undefined;

  constructor(config: ServerConfig, options: ServicesOptions) {
    this.#config = config;
    const logger = this.#logger = options.logger;
    // Started with the server (open), not on the first job: see WorkerPool.start.
    const workers = this.workers = new WorkerPool<Job, JobResult>({
      size: config.workers,
      spawn: options.spawnWorker ?? localWorkers(new URL("../jobs/worker.ts", import.meta.url)),
      onWorkerDeath: (worker, error) => logger.warn("worker died; replaced", { worker, error }),
      maxPendingCost: config.workers * MAX_TOTAL_WORK_MS,
      maxPendingJobs: MAX_JOBS_WAITING,
    });
    this.hashes = new FileHashes((path, identity) => hashOnWorkers(workers, path, identity));
    if (config.store !== undefined) {
      // Each call to the database answers within --request-timeout (docs/several-servers.md).
      const timeoutS = config.requestTimeoutS > 0
        ? config.requestTimeoutS
        : DEFAULT_REQUEST_TIMEOUT_S;
      this.#database = PostgresDatabase.connect(config.store, {
        logger,
        callTimeoutMs: timeoutS * 1000,
      });
      // KV and FILE are each network thread's own (server.ts); the hub's pool
      // makes or checks the tables and watches the database (/healthz, the
      // outage log).
      this.files = undefined;
      return;
    }
    this.files = new FileStore(config.rootDir, {
      maxFileSize: config.maxFileSize,
      hashes: this.hashes,
      list: (root) => listOnWorkers(workers, root),
    });
  }

  /**
   * Reads the users file and the TLS certificate; then prepares the file
   * root, opens the KV store and starts the worker threads. In `--echo`
   * mode there is no protocol, so only the users and the certificate are
   * read. Throws {@linkcode StartupError} naming what failed, with the Deno
   * error as cause.
   */
  async open(): Promise<void> {
    // First: a malformed users file should stop the server before anything opens.
    this.#security = await SecurityFiles.load(this.#config, this.#logger);
    if (this.#config.echo) return;
    if (this.#database !== undefined) {
      this.#logger.info(`store: KV and FILE in ${this.#database.shown}`);
      try {
        // A database that is down is a warning, not a failure: it keeps trying.
        await this.#database.open();
      } catch (error) {
        throw new StartupError("store", error);
      }
    } else {
      try {
        await checkWritableDirectory("--root", this.#config.rootDir);
        await this.files?.prepare();
      } catch (error) {
        throw new StartupError("files", error);
      }
      try {
        await checkWritableDirectory("--data", this.#config.dataDir);
        this.#kv = await KvStore.open(this.#config.dataDir);
      } catch (error) {
        throw new StartupError("kv", error);
      }
    }
    // The worker threads start now, with the server, not on the first job
    // (see WorkerPool.start): never while clients may have used up the
    // descriptors.
    try {
      await this.workers.start();
    } catch (error) {
      throw new StartupError("workers", error);
    }
  }

  /** The certificate and key in force (after {@linkcode open}); undefined without `--tls-cert`. */
  get tls(): TlsFiles | undefined {
    return this.#security?.tls;
  }

  /**
   * Whether KV and FILE can be served now: false while the `--store`
   * database cannot be reached (for /healthz); the embedded stores always can.
   */
  storeReachable(): boolean {
    return this.storeUnreachable() === undefined;
  }

  /**
   * Why KV and FILE cannot be served now, one line (`/healthz` answers 503
   * with it, docs/observability.md#health); undefined while they can.
   */
  storeUnreachable(): string | undefined {
    const database = this.#database;
    return database === undefined || database.reachable() ? undefined : database.unreachableReason;
  }

  /**
   * A network thread lost the `--store` database: the hub's pool looks at
   * once, and logs the outage (once) and its end (PostgresDatabase.lookNow).
   */
  noticeStoreDown(): void {
    this.#database?.lookNow();
  }

  /**
   * The embedded KV store (after {@linkcode open}; not in `--echo` mode).
   * With `--store` there is none here: each network thread has its own
   * store on the database (server.ts).
   */
  get kv(): KeyValueStore {
    if (this.#kv === undefined) {
      throw new Error(
        this.#database === undefined
          ? "the KV store is not open"
          : "with --store, KV is the network threads' own",
      );
    }
    return this.#kv;
  }

  /** AUTH's checks, counting failures in `stats`; undefined without `--users`. */
  authService(stats: Stats): AuthService | undefined {
    return this.#security?.authService(stats);
  }

  /**
   * Reads the users file and the TLS certificate and key again (SIGHUP,
   * docs/security.md): new users count from the next AUTH, a new certificate is
   * handed to `useTls` for the next connection. What fails to load keeps
   * its old contents, with one error line. Never throws.
   */
  async reload(useTls: (files: TlsFiles) => void): Promise<void> {
    if (this.#security === undefined) return;
    const c = this.#config;
    if (c.usersFile === undefined && c.tls === undefined) {
      this.#logger.info("SIGHUP: nothing to reload (no --users, no --tls-cert)");
      return;
    }
    await this.#security.reload(useTls);
  }

  /**
   * Closes them in the order they were made (on shutdown, after the clients
   * are drained): the worker threads, then the KV store, whose clean close
   * folds SQLite's write-ahead log into the database file and frees the
   * directory lock. One that fails is logged and the next still closes.
   * Never throws.
   */
  async close(): Promise<void> {
    await this.#closeOne(() => this.workers.close());
    const kv = this.#kv;
    if (kv !== undefined) await this.#closeOne(() => kv.close());
    const database = this.#database;
    if (database !== undefined) await this.#closeOne(() => database.close());
  }

  async #closeOne(close: () => Promise<void> | void): Promise<void> {
    try {
      await close();
    } catch (error) {
      this.#logger.warn("close hook failed", { error: String(error) });
    }
  }
}

/** The sha256 of a file version, hashed by a worker thread; undefined if the path holds another version now. */
async function hashOnWorkers(
  workers: WorkerPool<Job, JobResult>,
  path: string,
  identity: FileIdentity,
): Promise<string | undefined> {
  const result = await workers.run({ kind: "hash", path, identity }, { cost: HASH_JOB_COST });
  if (result.kind === "hashed") return result.sha256;
  if (result.kind === "changed") return undefined;
  throw new Error(`a hash job answered with a ${result.kind} result`);
}

/** FILE LIST's lines for `root`, built by a list job on the worker threads. */
async function listOnWorkers(
  workers: WorkerPool<Job, JobResult>,
  root: string,
): Promise<Uint8Array> {
  const result = await workers.run({ kind: "list", root }, { cost: LIST_JOB_COST });
  if (result.kind === "listed") return result.lines;
  throw new Error(`a list job answered with a ${result.kind} result`);
}
