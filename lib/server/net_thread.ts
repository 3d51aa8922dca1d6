/**
 * The network threads: where the server accepts and serves its clients
 * (`--threads` of them, docs/architecture.md#threads), each a Worker with a
 * fairer I/O setting than Deno's default.
 *
 * Why the product needs this (docs/performance.md, S4: 1000 connections at once, each
 * sending again as soon as it has its reply; measured with the C load
 * generator, `loadgen -c 1000 --first-reply-latency`, server on CPU 0):
 *
 * - Deno runs each thread's event loop on a tokio runtime that takes up to
 *   1024 readiness events from epoll per turn. Under that load a plain Deno
 *   echo served some connections twice in 6 s and others 5,219 times, and
 *   10 % of new connections got their first read only when the load
 *   stopped. Sampling `ss` meanwhile showed hundreds of reads pending in the
 *   server for 0.2–2.8 s, every one with its request already in the
 *   socket's receive queue: the reads were issued, the data was there, and
 *   the runtime did not get round to them.
 * - Our reading of tokio and deno_core: the ops those events wake are polled
 *   by one task whose I/O budget is 128 operations per poll; the rest go
 *   back in line behind the events of the next turn, so under constant load
 *   the same connections lose again and again. It fits what we measured:
 *   limits of 64 and 128 events per turn were fair, 256 and 1024 were not.
 * - With at most 64 events per turn, each connection of that echo got the
 *   same share (612–613 reads each), and switchboard answered all 1000 with
 *   a first-reply p90 of 71–85 ms, against 1.9–2.8 s with the default limit
 *   and the read quantum this replaced (3 runs each, interleaved).
 *   50-connection throughput (S1) stayed within the run-to-run spread.
 *
 * A second setting, `DENO_TOKIO_EVENT_INTERVAL`, is how many tasks tokio
 * runs between two looks at epoll when there is always work to do. At the
 * default (61), 16 concurrent FILE GETs of 256 MiB kept the event loop busy
 * enough that a bystander's PING waited 0.4–0.8 s at a time (p99 583 ms;
 * Node's `net` under the same load: 35 ms): its readiness sat unread in
 * epoll. At 2 it looked often enough: p99 46 ms (4–5 ms with the 64 KiB
 * transfer chunks of lib/chunks.ts), measured with
 * scripts/bench/rows/hash.ts's load, server unpinned.
 *
 * Both are read once, when a thread's runtime starts: too late for the
 * main thread of a running process, but a Worker started afterwards gets
 * its own runtime with them. So the entry point sets the variables and the
 * hub (hub.ts) starts the network threads as Workers, which needs
 * `--allow-env` for the two. If the user set either, the Workers inherit it.
 */
import type { Logger } from "./log.ts";
import type { ServerConfig } from "./config.ts";
import type { FromThread, ThreadStart, ToThread } from "./thread_messages.ts";
import { inWorkerThread } from "../worker_thread.ts";

/** The environment variable Deno reads for its per-turn epoll event limit. */
export const IO_EVENTS_VARIABLE = "DENO_TOKIO_MAX_IO_EVENTS_PER_TICK";
/** The environment variable Deno reads for how many tasks run between two epoll polls. */
export const EVENT_INTERVAL_VARIABLE = "DENO_TOKIO_EVENT_INTERVAL";

/**
 * The network thread's scheduling: at most 64 events per turn (below the
 * 128-operation budget, so every woken read is polled in turn), and a look
 * at epoll every 2 tasks.
 */
export const SCHEDULING: Readonly<Record<string, string>> = {
  [IO_EVENTS_VARIABLE]: "64",
  [EVENT_INTERVAL_VARIABLE]: "2",
};

/** The narrowest permission that lets the entry point set them. */
export const NET_THREAD_PERMISSION = `--allow-env=${Object.keys(SCHEDULING).join(",")}`;

/** The network threads' scheduling, from the permission and the environment. */
export type NetScheduling =
  /** A variable was set before this process started: the threads inherit the user's setting. */
  | "set by the user"
  /** The variables are now set: the threads get our setting. */
  | "ours"
  /** No permission for the variables: Deno's default scheduling. */
  | "default";

/**
 * Sets the variables for the network threads when it may. Never prompts:
 * without `--allow-env` for them it answers "default".
 */
export function scheduleNetwork(): NetScheduling {
  const variables = Object.keys(SCHEDULING);
  const granted = (variable: string) =>
    Deno.permissions.querySync({ name: "env", variable }).state === "granted";
  if (!variables.every(granted)) return "default";
  if (variables.some((variable) => Deno.env.get(variable) !== undefined)) return "set by the user";
  for (const [variable, value] of Object.entries(SCHEDULING)) Deno.env.set(variable, value);
  return "ours";
}

/** The Worker name of a network thread, followed by its number (the job workers run the same module). */
export const NET_THREAD_NAME = "switchboard-net";

/** True inside a network thread. */
export function inNetThread(): boolean {
  const name = (globalThis as { name?: string }).name ?? "";
  return inWorkerThread() && name.startsWith(NET_THREAD_NAME);
}

/** One network thread's server, as {@linkcode serveNetThread} drives it (lib/server/server.ts). */
export interface ThreadServer {
  listen(): Promise<Deno.NetAddr>;
  shutdown(): Promise<void>;
  useTls(files: NonNullable<ThreadStart["tls"]>): void;
}

/**
 * Network thread: on "start", builds the server with `make` and listens,
 * then reports the port (or the one line saying why it could not); "shut
 * down" (which the hub sends only to threads that listen) drains it and
 * reports "stopped"; "tls" hands it a reloaded certificate.
 */
export function serveNetThread(
  make: (config: ServerConfig, start: ThreadStart) => { server: ThreadServer; logger: Logger },
  describeFailure: (error: unknown, config: ServerConfig) => string | undefined,
): void {
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent<ToThread>) => void) | null;
    postMessage(message: FromThread): void;
  };
  let server: ThreadServer | undefined;
  scope.onmessage = async (event) => {
    const message = event.data;
    if (message.kind === "tls") return server?.useTls(message.files);
    if (message.kind === "shut down") {
      await server?.shutdown();
      scope.postMessage({ kind: "stopped" });
      return;
    }
    const { config } = message.start;
    const made = make(config, message.start);
    // A rejection nobody handles is our bug, not the peer's: nothing waits on
    // that promise, so it is logged and the thread serves on instead of
    // ending the server with every connection on it.
    self.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      const reason = event.reason instanceof Error ? event.reason.stack : event.reason;
      made.logger.error("unhandled rejection", { error: String(reason) });
    });
    try {
      const addr = await made.server.listen();
      server = made.server;
      scope.postMessage({ kind: "listening", port: addr.port });
    } catch (error) {
      const line = describeFailure(error, config);
      if (line === undefined) throw error;
      await made.logger.flush();
      scope.postMessage({ kind: "failed", line });
    }
  };
}
