/**
 * The one connection pool to the shared store's PostgreSQL database, and
 * what every query goes through: a deadline, and the translation of a lost
 * database into StoreUnreachableError (`ERR unavailable store unreachable:
 * <reason>`). It also watches the database between requests, so that the
 * server knows whether its store is reachable (/healthz) and finds its
 * tables as soon as a database that was down at start comes up.
 *
 * The driver is porsager's `postgres` (npm), chosen over `pg` after trying
 * both in Deno 2.9.6: `pg` reads `USER` from the environment when its
 * module loads, which the server's narrow `--allow-env` list forbids, while
 * `postgres` reads only PGPASSWORD, PGAPPNAME and PGTARGETSESSIONATTRS once
 * every other option is given; it pipelines queries on each connection
 * (20,000 keyed SELECTs from one process took 0.7 s on 4 connections),
 * prepares every statement by default, takes bytea as Uint8Array, and
 * reserves a connection for a transaction (a FILE PUT or GET).
 *
 * The pools are made here and nowhere else (a second thread or store reuses
 * {@linkcode PostgresDatabase.connect}).
 */
import { deadline } from "@std/async/deadline";
import { connect as connectTcp, type Socket } from "node:net";
import postgres from "postgres";
import { Semaphore } from "../../lock.ts";
import type { Logger } from "../../server/log.ts";
import { StoreUnreachableError } from "../store.ts";
import { IncompatibleSchemaError, prepareSchema, SCHEMA_VERSION } from "./schema.ts";
import { unreachableReason } from "./unreachable.ts";
import { describeUrl, PASSWORD_VARIABLE, type PostgresUrl, readPassword, redact } from "./url.ts";

/**
 * Connections for single statements (KV, FILE LIST and DEL). Queries
 * pipeline on each connection, so a few serve many clients. Measured from
 * one process, 50 clients, local PostgreSQL, on 2 cores shared with other
 * work (load average 12–14, so only as a rough guide): SELECTs 8,000–9,000/s
 * and upserts 650–780/s (bound by the WAL's fsync) with 4, 10 or 20
 * connections alike; more connections only cost PostgreSQL backends.
 */
export const POOL_SIZE = 4;
/**
 * Connections for FILE PUTs and GETs, each held by one transfer from first
 * to last byte; more transfers wait for one to finish. A pool of its own,
 * so that transfers never take KV's connections. A server's network
 * threads share these out (server.ts), so that a server takes about
 * 4 + 4 + 16 of PostgreSQL's default 100 connections however many threads
 * it runs, and four servers fit.
 */
export const MAX_STREAMS = 16;
/** How often the database is asked whether it is there, between requests. */
const PROBE_MS = 1000;
/**
 * What the driver reads from the environment even with every option given
 * (PGPASSWORD only when neither the URL nor the caller gives a password).
 */
export const POSTGRES_VARIABLES = [PASSWORD_VARIABLE, "PGAPPNAME", "PGTARGETSESSIONATTRS"] as const;
/** Longest a connection attempt may take before it counts as failed (seconds). */
const CONNECT_TIMEOUT_S = 5;

/** Options of {@linkcode PostgresDatabase.connect}. */
export interface DatabaseOptions {
  logger: Logger;
  /** Deadline of each call to the database, in ms (`--request-timeout`). */
  callTimeoutMs: number;
  /**
   * How many of the server's connections this pool may open: 1 for the
   * only pool, 1/N for each of N network threads' pools. Default 1.
   */
  share?: number;
  /**
   * Told each time the store goes from reachable to not (a network thread
   * tells the hub, whose pool looks for itself and logs what it sees: one
   * line per outage however many threads saw it).
   */
  onDown?: () => void;
}

/** At least one statement connection and two transfers per pool, whatever its share. */
function shareOf(total: number, share: number, least: number): number {
  return Math.max(least, Math.ceil(total * share));
}

/** A live pool to one database; queries go through {@linkcode call} or {@linkcode within}. */
export class PostgresDatabase {
  /** The URL as it may be shown (no password). */
  readonly shown: string;
  readonly #sql: postgres.Sql;
  /**
   * The one connection writes go out on ({@linkcode callInOrder}): they go one at a time anyway,
   * and a write waiting on a row another transaction holds must not hold up the reads. On #sql,
   * the driver pipelined the reads of other clients behind it once every connection was busy,
   * and they failed with it after the deadline (tests/e2e_postgres_transfers_test.ts).
   */
  readonly #writer: postgres.Sql;
  /** The transfers' pool (see {@linkcode MAX_STREAMS}). */
  readonly #transfers: postgres.Sql;
  /** How many connections single statements (KV, FILE LIST and DEL) have. */
  readonly statements: number;
  /** How many transfers this pool holds connections for at once. */
  readonly maxStreams: number;
  readonly #logger: Logger;
  /** Deadline of each call to the database, in ms (`--request-timeout`). */
  readonly callTimeoutMs: number;
  readonly #onDown: (() => void) | undefined;
  readonly #password: string | undefined;
  /** The tables were found or made; until then every call is refused. */
  #ready = false;
  #reachable = false;
  #reason = "not connected yet";
  /** An unreachable episode was already logged. */
  #warned = false;
  #checking: Promise<void> | undefined;
  /** Writes go one at a time, each until PostgreSQL settles it (see {@linkcode callInOrder}). */
  readonly #writes = new Semaphore(1);
  /** The pools' open sockets (see {@linkcode socketOf}). */
  readonly #sockets = new Set<Socket>();
  #probe: ReturnType<typeof setInterval> | undefined;

  private constructor(url: PostgresUrl, options: DatabaseOptions) {
    this.shown = describeUrl(url);
    this.#logger = options.logger;
    this.callTimeoutMs = options.callTimeoutMs;
    this.#onDown = options.onDown;
    this.#password = url.password ?? readPassword();
    this.statements = shareOf(POOL_SIZE, options.share ?? 1, 1);
    // Given whole (not as a literal): the types lack max_pipeline, which must be given all the same.
    const driverOptions = {
      host: url.host,
      port: url.port,
      database: url.database,
      ...(url.user === undefined ? {} : { username: url.user }),
      ...(this.#password === undefined ? {} : { password: this.#password }),
      // Every option the driver would otherwise read from PG* variables.
      max: this.statements,
      ssl: false,
      sslnegotiation: null,
      idle_timeout: 60,
      connect_timeout: CONNECT_TIMEOUT_S,
      socket: () => this.#openSocket(url.host, url.port),
      max_lifetime: null,
      max_pipeline: 100,
      // Its default waits up to 20 s after repeated failures; a database back up must serve within 5 s.
      backoff: (retries: number) => Math.min(0.1 * retries, 1),
      keep_alive: 60,
      prepare: true,
      debug: false,
      // true (one query per new connection): with false, reserve() on a fresh
      // connection never resolves in postgres 3.4.7 (tried: hung 5 s; true: at once).
      fetch_types: true,
      publications: "alltables",
      target_session_attrs: undefined,
      onnotice: () => {},
      connection: {
        application_name: "switchboard",
        // A server that vanishes mid-transfer without closing its connection
        // (its machine lost) holds a transaction open; PostgreSQL ends it
        // after this much silence, and the upload's chunks go with it.
        idle_in_transaction_session_timeout: 10 * 60_000,
      },
    };
    this.#sql = postgres(driverOptions);
    this.#writer = postgres({ ...driverOptions, max: 1 });
    this.maxStreams = shareOf(MAX_STREAMS, options.share ?? 1, 2);
    this.#transfers = postgres({ ...driverOptions, max: this.maxStreams });
  }

  /** Makes the pool; connects lazily, never throws for a database that is down. */
  static connect(url: PostgresUrl, options: DatabaseOptions): PostgresDatabase {
    return new PostgresDatabase(url, options);
  }

  /**
   * Checks (or makes) the tables once, then keeps watching. A database
   * that is down is one warning, and the server starts anyway; tables of
   * another version throw IncompatibleSchemaError (the server must not start).
   */
  async open(): Promise<void> {
    await this.#check();
    if (this.#reason.startsWith("incompatible")) {
      throw new IncompatibleSchemaError(
        `${this.shown}: ${this.#reason.replace(/^incompatible /, "")}`,
      );
    }
    this.#probe = setInterval(() => this.#check(), PROBE_MS);
  }

  /** Whether the store answers now (for /healthz): its tables are ready and the last call got through. */
  reachable(): boolean {
    return this.#ready && this.#reachable;
  }

  /** Why the store could not be reached the last time it was not (for /healthz, with {@linkcode reachable}). */
  get unreachableReason(): string {
    return this.#reason;
  }

  /** Runs `work` with the pool, within the deadline; a lost database becomes StoreUnreachableError. */
  call<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    if (!this.#ready) return Promise.reject(new StoreUnreachableError(this.#reason));
    return this.within(work(this.#sql));
  }

  /**
   * Runs one write after this pool's previous write has settled in
   * PostgreSQL, not merely after its caller stopped waiting for it. A write
   * whose caller was told it failed (no answer in time) may still be
   * running, on another connection or queued behind a statement on its own,
   * and must not commit after the same client's next write: a SET told ERR
   * landing over the SET told OK after it. The wait counts toward the
   * deadline, and a write whose deadline passes while it waits is never sent.
   */
  async callInOrder<T>(work: (sql: postgres.Sql) => PromiseLike<T>): Promise<T> {
    if (!this.#ready) throw new StoreUnreachableError(this.#reason);
    const started = performance.now();
    const turn = this.#writes.acquire();
    let release: () => void;
    try {
      release = await deadline(turn, this.callTimeoutMs);
    } catch (error) {
      turn.then((giveBack) => giveBack()); // never sent: its turn, when it comes, passes on
      throw this.fault(error);
    }
    let statement: PromiseLike<T>;
    try {
      statement = work(this.#writer);
    } catch (error) {
      release();
      throw error;
    }
    statement.then(release, release);
    const left = this.callTimeoutMs - (performance.now() - started);
    return await this.within(statement, Math.max(1, left));
  }

  /** A connection of the transfers' pool, for one transaction; give it back with `release()`. */
  reserve(): Promise<postgres.ReservedSql> {
    if (!this.#ready) return Promise.reject(new StoreUnreachableError(this.#reason));
    const pending = this.#transfers.reserve();
    return this.within(pending).catch((error) => {
      // Past the deadline the connection may still come: give it back then, or it is lost to the pool.
      pending.then((connection) => connection.release(), () => {});
      throw error;
    });
  }

  /**
   * The socket under a reserved connection, for COPY data written to it
   * and read from it without the driver's copies (copy_in.ts,
   * copy_exchange.ts); undefined where it cannot be told (something between
   * us and PostgreSQL: the port PostgreSQL sees is not one of ours). One
   * round trip.
   */
  async socketOf(connection: postgres.ReservedSql): Promise<Socket | undefined> {
    const [row] = await this.within(
      connection`SELECT inet_client_port() AS client, inet_server_port() AS server`,
    );
    for (const socket of this.#sockets) {
      if (socket.localPort === row?.client && socket.remotePort === row?.server) return socket;
    }
    return undefined;
  }

  /** Awaits one step (a query on a reserved connection) within the deadline, translating a lost database. */
  async within<T>(step: PromiseLike<T>, timeoutMs = this.callTimeoutMs): Promise<T> {
    try {
      const result = await deadline(Promise.resolve(step), timeoutMs);
      this.#up();
      return result;
    } catch (error) {
      throw this.fault(error);
    }
  }

  /**
   * `error` as callers should see it: a lost database (refused, closed,
   * shut down, no answer in time, wrong password) marks the store
   * unreachable and becomes StoreUnreachableError; anything else is ours.
   */
  fault(error: unknown): unknown {
    if (error instanceof StoreUnreachableError) return error;
    const reason = unreachableReason(error, this.callTimeoutMs);
    if (reason === undefined) return error;
    const shown = redact(reason, this.#password);
    this.#down(shown);
    return new StoreUnreachableError(shown);
  }

  /**
   * Another pool to this database (a network thread's) lost it: looks now
   * rather than at the next probe, so that an outage shorter than a probe's
   * second is logged too. What it logs is what it sees itself: a late
   * error of a connection lost before the database came back (the other
   * pool's next call fails with it after a first one succeeded) is not a
   * second outage.
   */
  lookNow(): void {
    void this.#check();
  }

  /** Waits for every connection to finish and closes them (on shutdown). */
  async close(): Promise<void> {
    clearInterval(this.#probe);
    await Promise.all([
      this.#sql.end({ timeout: 1 }),
      this.#writer.end({ timeout: 1 }),
      this.#transfers.end({ timeout: 1 }),
    ]);
  }

  /**
   * A connection to PostgreSQL with Nagle's algorithm off, as PostgreSQL
   * sets on its side: the driver's sockets keep it on, so a small message
   * after a large one (the end of a COPY, the next statement) waited for the
   * delayed ACK, ~40 ms each (measured: a 256 MiB PUT spent 16 of its 17 s so).
   * Given still connecting: the driver writes at once (the socket holds the
   * bytes until it is connected), and sees a refused or lost connection as it
   * does its own sockets' (its connect_timeout and retries apply unchanged).
   * Kept in #sockets while open, for {@linkcode socketOf}.
   */
  #openSocket(host: string, port: number): Socket {
    const socket = connectTcp({ host, port, noDelay: true });
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
    return socket;
  }

  /** One look at the database: the tables while not ready, a plain SELECT after. */
  #check(): Promise<void> {
    this.#checking ??= this.#look().finally(() => this.#checking = undefined);
    return this.#checking;
  }

  async #look(): Promise<void> {
    try {
      if (this.#ready) {
        await deadline(Promise.resolve(this.#sql`SELECT 1`), this.callTimeoutMs);
      } else {
        const created = await deadline(prepareSchema(this.#sql), this.callTimeoutMs);
        this.#ready = true;
        if (created) {
          this.#logger.info(
            `store: created the tables in ${this.shown} (schema version ${SCHEMA_VERSION})`,
          );
        }
      }
      this.#up();
    } catch (error) {
      if (error instanceof IncompatibleSchemaError) {
        if (this.#reason !== `incompatible ${error.message}`) {
          this.#logger.error(`store: ${this.shown} is refused: ${error.message}`);
        }
        this.#reason = `incompatible ${error.message}`;
        this.#reachable = false;
        return;
      }
      const fault = this.fault(error);
      if (!(fault instanceof StoreUnreachableError)) {
        this.#down(redact(String(error), this.#password));
      }
    }
  }

  #up(): void {
    if (this.#reachable) return;
    this.#reachable = true;
    if (this.#warned) this.#logger.info(`store: ${this.shown} is reachable again`);
    this.#warned = false;
  }

  #down(reason: string): void {
    this.#reason = reason;
    if (!this.#reachable && this.#warned) return;
    this.#reachable = false;
    this.#warned = true;
    this.#logger.warn(`store: ${this.shown} is unreachable (${reason}); retrying every second`);
    this.#onDown?.();
  }
}
