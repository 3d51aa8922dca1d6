/**
 * A network thread's side of the shared services (docs/architecture.md#threads):
 * the KV store, the job pool, the hash cache, FILE LIST's builds, AUTH, and
 * WHO and STATS across threads all live with the hub (hub_services.ts, on
 * the main thread), one of each for the process. Here each is an object with
 * the interface the commands already use, whose calls become one message to
 * the hub and one answer back (tens of microseconds; a KV commit or a scrypt
 * hash costs far more).
 *
 * The same port carries the hub's questions to this thread: its connections
 * for WHO, its counters and request durations for STATS and /metrics.
 */
import type { AuthService, JobRunner, SessionEntry } from "../commands/command.ts";
import type { KeyValueStore } from "../stores/store.ts";
import { JobsCancelledError } from "../jobs/pool.ts";
import type { Job, JobResult } from "../jobs/worker.ts";
import { type HashCache, untilAborted } from "../stores/file_hashes.ts";
import {
  type AuthResult,
  type GatherAnswer,
  type GatherRequest,
  type LiveEntry,
  rebuildError,
  type ServiceAnswer,
  type ServiceRequest,
  type ThreadSnapshot,
} from "./thread_messages.ts";

/** What the hub may ask this thread. */
export interface ThreadViews {
  /** This thread's connections: running, then queued in order. */
  sessions(): SessionEntry[];
  /** This thread's counters and request durations. */
  snapshot(): ThreadSnapshot;
  /** This thread's connections for the live page. */
  live(): LiveEntry[];
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onResult?: ((result: JobResult, index: number, worker: number) => void) | undefined;
}

/** The shared services, reached through the hub. */
export class RemoteServices {
  readonly #port: MessagePort;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(port: MessagePort, views: ThreadViews) {
    this.#port = port;
    port.onmessage = (event: MessageEvent<ServiceAnswer | GatherRequest>) => {
      const message = event.data;
      if ("gather" in message) {
        const answer: GatherAnswer = message.gather === "sessions"
          ? { id: message.id, sessions: views.sessions() }
          : message.gather === "live"
          ? { id: message.id, live: views.live() }
          : { id: message.id, snapshot: views.snapshot() };
        return port.postMessage(answer);
      }
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      if ("result" in message) {
        return pending.onResult?.(message.result, message.index, message.worker);
      }
      this.#pending.delete(message.id);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(rebuildError(message.error));
    };
  }

  /** Sends `request` and resolves with the hub's answer (or rejects with its error, rebuilt). */
  call<T>(
    request: ServiceRequest,
    onResult?: Pending["onResult"],
  ): { id: number; answer: Promise<T> } {
    const id = this.#nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, onResult });
    });
    this.#port.postMessage({ ...request, id });
    return { id, answer };
  }

  #ask<T>(request: ServiceRequest): Promise<T> {
    return this.call<T>(request).answer;
  }

  /** The KV store (the hub closes the real one). */
  readonly kv: KeyValueStore = {
    get: (key) => this.#ask({ op: "kv.get", key }),
    set: (key, value) => this.#ask({ op: "kv.set", key, value }),
    delete: (key) => this.#ask({ op: "kv.delete", key }),
    increment: (key, by) => this.#ask({ op: "kv.increment", key, by }),
    // Counted where the keys are: only the number crosses (KEYS counts up to 10,001 first).
    countKeys: (prefix, upTo) => this.#ask({ op: "kv.count", prefix, upTo }),
    // At most a listing's bound of keys (10,000) crosses in one answer.
    eachKey: async (prefix, options, visit) => {
      const keys = await this.#ask<string[]>({
        op: "kv.keys",
        prefix,
        after: options.after,
        limit: options.limit,
      });
      for (const key of keys) visit(key);
      return keys.length;
    },
    close: () => {},
  };

  /** The job pool. A batch crosses as one message: its job, repeated `total` times (see JobRunner). */
  readonly workers: JobRunner = {
    runBatch: (total, makeJob, options = {}) => {
      if (options.signal?.aborted) return Promise.reject(new JobsCancelledError("cancelled"));
      const { id, answer } = this.call<void>({
        op: "jobs",
        total,
        job: makeJob(0) as Job,
        cost: options.cost ?? 0,
        streamResults: options.onResult !== undefined,
      }, options.onResult);
      options.signal?.addEventListener("abort", () => this.#ask({ op: "cancel", of: id }), {
        once: true,
      });
      return answer;
    },
    run: async (job, options = {}) => {
      let result: JobResult | undefined;
      await this.workers.runBatch(1, () => job, {
        ...options,
        onResult: (value) => result = value,
      });
      return result!;
    },
  };

  /** GET's hash cache, shared: concurrent GETs of one file on any threads hash it once. */
  readonly hashes: HashCache = {
    remember: (path, identity, sha256) =>
      void this.#ask({ op: "hashes.remember", path, identity, sha256 }),
    sha256: (path, identity, options = {}) => {
      const shared = this.#ask<string | undefined>({ op: "hashes.sha256", path, identity });
      return options.signal ? untilAborted(shared, options.signal) : shared;
    },
  };

  /** FILE LIST's lines, built by a list job (sharing the builds of every thread). */
  list(): Promise<Uint8Array> {
    return this.#ask({ op: "list" });
  }

  /** AUTH against the users of `--users`, throttled per address across every thread. */
  readonly auth: AuthService = {
    authenticate: (address, name, password) =>
      this.#ask<AuthResult>({ op: "auth", address, name, password }),
  };

  /** Tells the hub that this thread lost the `--store` database; the hub logs the outage once. */
  storeDown(): void {
    this.#ask({ op: "store.down" }).catch(() => {});
  }

  /** WHO's entries of every thread. */
  sessions(): Promise<SessionEntry[]> {
    return this.#ask({ op: "sessions" });
  }

  /** STATS's lines, server-wide. */
  counters(): Promise<Array<[string, number]>> {
    return this.#ask({ op: "counters" });
  }
}
