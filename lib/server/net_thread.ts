/**
 * The network thread: where the server accepts and serves its clients when
 * it can give that thread a fairer I/O setting than Deno's default.
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
 * its own runtime with them. So the entry point sets the variables and runs
 * the server in a Worker, which needs `--allow-env` for the two. If the user
 * set either, this thread has it too and no Worker is needed.
 */
import { inWorkerThread, type SpawnWorker } from "../worker_thread.ts";

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

/** The Worker name that tells the network thread from the COUNT workers (same module). */
export const NET_THREAD_NAME = "switchboard-net";

/** Where the server should run, from the permission and the environment. */
export type NetPlacement =
  /** A variable was set before this process started: this thread has the user's setting. */
  | "here, set by the user"
  /** The variables are now set: a Worker started from here gets the setting. */
  | "worker"
  /** No permission for the variables: Deno's default scheduling, in this thread. */
  | "here, default scheduling";

/**
 * Decides where to serve, setting the variables when it may. Never prompts:
 * without `--allow-env` for them it answers "here, default scheduling".
 */
export function placeNetwork(): NetPlacement {
  const variables = Object.keys(SCHEDULING);
  const granted = (variable: string) =>
    Deno.permissions.querySync({ name: "env", variable }).state === "granted";
  if (!variables.every(granted)) return "here, default scheduling";
  if (variables.some((variable) => Deno.env.get(variable) !== undefined)) {
    return "here, set by the user";
  }
  for (const [variable, value] of Object.entries(SCHEDULING)) Deno.env.set(variable, value);
  return "worker";
}

/** True inside the network thread. */
export function inNetThread(): boolean {
  return inWorkerThread() && (globalThis as { name?: string }).name === NET_THREAD_NAME;
}

/**
 * Main thread → network thread: the signals arrive on the main thread, the
 * server runs there; and a worker the main thread started for it has died.
 */
type ToNetThread<C> =
  | { kind: "start"; config: C }
  | { kind: "shut down" }
  | { kind: "reload" }
  | { kind: "worker died"; id: number; error: string };

/**
 * Network thread → main thread: the server is done, exit with this code; or
 * start (or end) a worker thread for its pool.
 *
 * Why the main thread starts the workers: Deno takes about half a second
 * to bring up a Worker started from a Worker (measured with 2.9.6: 550 ms
 * against 54 ms from the main thread, nearly all of it idle), and the
 * server waits for its workers before it accepts. So the network thread
 * makes a MessageChannel, keeps one port for its pool and sends the other
 * here; this thread starts the worker and hands it the port.
 */
type FromNetThread =
  | { kind: "exit"; code: number }
  | { kind: "start worker"; id: number; port: MessagePort }
  | { kind: "end worker"; id: number };

/** A server running somewhere: ask it to drain, learn its exit code. */
export interface RunningServer {
  /** Starts the graceful drain (docs/protocol.md#shutdown); safe to call more than once. */
  shutDown(): void;
  /** Reads the users file and the TLS certificate again (SIGHUP, docs/security.md). */
  reload(): void;
  /** The process exit code, once the server has stopped (or failed to start). */
  readonly exited: Promise<number>;
}

/**
 * Main thread: starts the network thread on `module` (the entry file, which
 * re-enters itself; see server.ts) and hands it `config`; starts the job
 * workers it asks for on `jobsModule`. This thread then
 * only forwards the shutdown and waits for the exit code. An uncaught error
 * there is raised again in this thread by Deno and ends the process with
 * exit code 1, as it would in a single thread.
 */
export function startNetThread<C>(module: URL, config: C, jobsModule: URL): RunningServer {
  const thread = new Worker(module, { type: "module", name: NET_THREAD_NAME });
  const { promise, resolve } = Promise.withResolvers<number>();
  const send = (message: ToNetThread<C>, transfer: Transferable[] = []) =>
    thread.postMessage(message, transfer);
  const workers = new Map<number, Worker>();
  thread.onmessage = (event: MessageEvent<FromNetThread>) => {
    const message = event.data;
    if (message.kind === "exit") return resolve(message.code);
    if (message.kind === "end worker") {
      workers.get(message.id)?.terminate();
      workers.delete(message.id);
      return;
    }
    const worker = new Worker(jobsModule, { type: "module" });
    workers.set(message.id, worker);
    worker.onerror = (error: ErrorEvent) => {
      // Without preventDefault an uncaught error in a worker takes the whole process down.
      error.preventDefault();
      workers.delete(message.id);
      worker.terminate();
      send({ kind: "worker died", id: message.id, error: error.message || "worker crashed" });
    };
    worker.postMessage({ jobsPort: message.port }, [message.port]);
  };
  send({ kind: "start", config });
  return {
    shutDown: () => send({ kind: "shut down" }),
    reload: () => send({ kind: "reload" }),
    exited: promise,
  };
}

/**
 * Network thread: on the first message, `serve(config)` starts the server
 * (or fails to, with an exit code); "shut down" drains it, also when it
 * arrives while the server is still starting; "reload" reloads it (one
 * that arrives while the server starts is dropped: it is reading the files
 * then anyway). Reports the exit code.
 */
export function serveNetThread<C>(
  serve: (config: C, spawn: SpawnWorker) => Promise<RunningServer>,
): void {
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent<ToNetThread<C>>) => void) | null;
    postMessage(message: FromNetThread, transfer?: Transferable[]): void;
  };
  let running: RunningServer | undefined;
  let shutDownEarly = false;
  const deaths = new Map<number, (error: string) => void>();
  let nextWorker = 1;
  /** The pool's workers, started by the main thread (see FromNetThread). */
  const spawn: SpawnWorker = (events) => {
    const id = nextWorker++;
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => events.onMessage(event.data);
    deaths.set(id, (error) => {
      deaths.delete(id);
      channel.port1.close();
      events.onDeath(error);
    });
    scope.postMessage({ kind: "start worker", id, port: channel.port2 }, [channel.port2]);
    return {
      postMessage: (message) => channel.port1.postMessage(message),
      terminate: () => {
        deaths.delete(id);
        channel.port1.close();
        scope.postMessage({ kind: "end worker", id });
      },
    };
  };
  scope.onmessage = async (event) => {
    const message = event.data;
    if (message.kind === "worker died") return deaths.get(message.id)?.(message.error);
    if (message.kind === "shut down") {
      if (running === undefined) shutDownEarly = true;
      else running.shutDown();
      return;
    }
    if (message.kind === "reload") {
      running?.reload();
      return;
    }
    running = await serve(message.config, spawn);
    if (shutDownEarly) running.shutDown();
    scope.postMessage({ kind: "exit", code: await running.exited });
  };
}
