/**
 * The one source of defaults shared by the server and the client (the lab's
 * `constCS.py`, mini-redis's `DEFAULT_PORT`). Change a default here and both
 * executables, the usage texts and the docs/server.md table agree.
 */

import project from "../deno.json" with { type: "json" };

/** Version reported by `--version` on both executables: deno.json's `version`, the one place it is set. */
export const VERSION: string = project.version;

/** Address the server binds and the client dials. */
export const DEFAULT_HOST = "127.0.0.1";
/** TCP port of the classic lab (`server.py 12000 5`). */
export const DEFAULT_PORT = 12000;
/** Handlers that may run at once: the Manager's running set. */
export const DEFAULT_MAX_RUNNING = 64;
/** Connections allowed to wait for a slot; the next one gets `ERR busy`. */
export const DEFAULT_QUEUE_LIMIT = 1024;
/** Seconds a connection may wait in the queue; 0 means forever. */
export const DEFAULT_QUEUE_TIMEOUT_S = 0;
/** Seconds a running client may stay silent before `ERR timeout`. */
export const DEFAULT_IDLE_TIMEOUT_S = 300;
/** Running + queued connections per remote address; 0 means no limit. */
export const DEFAULT_MAX_PER_IP = 0;
/** Seconds a request line may take from its first byte to its LF (and a TLS handshake in all). */
export const DEFAULT_REQUEST_TIMEOUT_S = 30;
/** Bytes a second an upload or download must keep up, measured over each request-timeout window. */
export const DEFAULT_MIN_RATE = 4096;
/** Longest request line in bytes, not counting the CR LF. */
export const DEFAULT_MAX_LINE = 65536;
/** Seconds running clients get to finish when the server shuts down. */
export const DEFAULT_DRAIN_TIMEOUT_S = 10;
/** Directory served by the FILE commands. */
export const DEFAULT_ROOT_DIR = "./files";
/** Largest FILE PUT in bytes (1 GiB). */
export const DEFAULT_MAX_FILE_SIZE = 1024 ** 3;
/** Where the KV store keeps its database. */
export const DEFAULT_DATA_DIR = "./data";
/**
 * Connections the kernel keeps waiting for accept (`--backlog`). Deno's
 * default, 511, dropped about half of a burst of 1,000 connections, each
 * then retried a second later (docs/performance.md, S4); 4096 is what Linux allows
 * without raising `net.core.somaxconn` since 5.4, and nginx's and Redis's
 * way of making it an option.
 */
export const DEFAULT_BACKLOG = 4096;

/** Seconds the client waits to connect and for each reply. */
export const DEFAULT_CLIENT_TIMEOUT_S = 30;

/** Worker threads for COUNT jobs: one per CPU core. */
export function defaultWorkers(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** Upper bounds that keep a typo from becoming an outage. */
export const LIMITS = {
  workers: 256,
  threads: 256,
  maxRunning: 1_000_000,
  queueLimit: 10_000_000,
  timeoutS: 31_536_000, // one year: longer is surely a mistake
  maxLine: 64 * 1024 * 1024,
  backlog: 65535, // the largest listen queue any common kernel keeps
} as const;
