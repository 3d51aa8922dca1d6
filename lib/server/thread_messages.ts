/**
 * What the main thread (the hub, hub.ts) and the network threads
 * (net_thread.ts) say to each other: starting and stopping a thread, and
 * the requests a thread makes for the services they all share (the KV
 * store, the job pool, the hash cache, AUTH, WHO and STATS across threads;
 * docs/architecture.md#threads). Admission never goes through here: it is
 * shared memory (admission/shared_admission.ts).
 *
 * Errors cross as {name, message, code} and are rebuilt as the classes the
 * commands branch on, so a reply is the same whichever thread ran the work.
 */
import type { SessionEntry } from "../commands/command.ts";
import type { Job, JobResult } from "../jobs/worker.ts";
import { JobFailedError, JobsCancelledError, PoolFullError } from "../jobs/pool.ts";
import type { AuthResult } from "../security/authenticator.ts";
import type { TlsFiles } from "../security/tls_files.ts";
import type { FileIdentity } from "../stores/file_identity.ts";
import { NotAnIntegerError, StoreInUseError, ValueTooLargeError } from "../stores/kv_store.ts";
import type { ServerConfig } from "./config.ts";
import { StoreUnreachableError } from "../stores/store.ts";
import type { DurationsSnapshot } from "./observability/metrics.ts";
import type { LiveConnection } from "./observability/live_sample.ts";

/** Everything a network thread needs to start. */
export interface ThreadStart {
  config: ServerConfig;
  /** This thread's number, 0 to threads − 1. */
  thread: number;
  /** The Manager's shared state (admission/shared_admission.ts). */
  admission: SharedArrayBuffer;
  /** The print lock's word, shared so that log lines of all threads never interleave. */
  printLock: SharedArrayBuffer;
  /** The certificate and key in force, with `--tls-cert`. */
  tls: TlsFiles | undefined;
  /** The port to listen on: thread 0 binds the configured one (maybe 0), the others the one it got. */
  port: number;
  /** Where this thread's service requests go (see {@linkcode ServiceRequest}). */
  services: MessagePort;
}

/** Hub → network thread. */
export type ToThread =
  | { kind: "start"; start: ThreadStart }
  | { kind: "shut down" }
  | { kind: "tls"; files: TlsFiles };

/** Network thread → hub. */
export type FromThread =
  /** Listening on `port`. */
  | { kind: "listening"; port: number }
  /** Could not start: one line saying why (startup_error.ts). */
  | { kind: "failed"; line: string }
  /** Drained and stopped. */
  | { kind: "stopped" };

/** A thread's own counters and request durations, for STATS and /metrics. */
export interface ThreadSnapshot {
  stats: Record<string, number>;
  durations: DurationsSnapshot;
}

/** A request of a network thread for a shared service, with its answer's type. */
export type ServiceRequest =
  | { op: "kv.get"; key: string }
  | { op: "kv.set"; key: string; value: string }
  | { op: "kv.delete"; key: string }
  | { op: "kv.increment"; key: string; by: bigint }
  | { op: "kv.keys"; prefix: string; after: string | undefined; limit: number }
  | { op: "kv.count"; prefix: string; upTo: number }
  | { op: "jobs"; total: number; job: Job; cost: number; streamResults: boolean }
  | { op: "cancel"; of: number }
  | { op: "hashes.sha256"; path: string; identity: FileIdentity }
  | { op: "hashes.remember"; path: string; identity: FileIdentity; sha256: string }
  | { op: "list" }
  | { op: "auth"; address: string; name: string; password: string }
  | { op: "sessions" }
  | { op: "counters" }
  /** This thread's connections to the `--store` database lost it (no answer expected). */
  | { op: "store.down" };

/** A service request as sent: with the id its answer will carry. */
export type ServiceCall = ServiceRequest & { id: number };

/** The hub's answer to a {@linkcode ServiceCall}, or (for jobs) one result as it comes. */
export type ServiceAnswer =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: CarriedError }
  | { id: number; result: JobResult; index: number; worker: number };

/** A connection for the live page, its times in Unix milliseconds (threads' clocks differ). */
export interface LiveEntry {
  handler: LiveConnection;
  state: "running" | "queued";
}

/** The hub asks a network thread for its part of WHO, STATS or the live page. */
export type GatherRequest = { id: number; gather: "sessions" | "snapshot" | "live" };

/** A network thread's part of WHO, STATS or the live page. */
export type GatherAnswer =
  | { id: number; sessions: SessionEntry[] }
  | { id: number; snapshot: ThreadSnapshot }
  | { id: number; live: LiveEntry[] };

/** An error as it crosses threads. */
export interface CarriedError {
  name: string;
  message: string;
  code?: string;
  pendingCost?: number;
  pendingJobs?: number;
  /** StoreUnreachableError's reason. */
  reason?: string;
}

/** `error` as it crosses threads. */
export function carryError(error: unknown): CarriedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const carried: CarriedError = { name: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") carried.code = code;
  if (error instanceof PoolFullError) {
    carried.pendingCost = error.pendingCost;
    carried.pendingJobs = error.pendingJobs;
  }
  if (error instanceof StoreUnreachableError) carried.reason = error.reason;
  return carried;
}

/** The error the commands branch on, from its carried form. */
export function rebuildError(carried: CarriedError): Error {
  switch (carried.name) {
    case "PoolFullError":
      return new PoolFullError(carried.pendingCost ?? 0, carried.pendingJobs ?? 0);
    case "JobFailedError":
      return new JobFailedError(carried.message, carried.code);
    case "JobsCancelledError":
      return new JobsCancelledError(carried.message);
    case "NotAnIntegerError":
      return new NotAnIntegerError(carried.message);
    case "ValueTooLargeError":
      return new ValueTooLargeError(carried.message);
    case "StoreInUseError":
      return new StoreInUseError(carried.message);
    case "StoreUnreachableError":
      return new StoreUnreachableError(carried.reason ?? carried.message);
  }
  const error = new Error(carried.message);
  error.name = carried.name;
  if (carried.code !== undefined) Object.assign(error, { code: carried.code });
  return error;
}

/** The AUTH answer type, re-exported for the two sides. */
export type { AuthResult };
