/**
 * The thread side of the worker pool (lib/jobs/pool.ts): how code finds
 * out it runs in a worker thread, how a worker thread is started and
 * watched (SpawnWorker, localWorkers), and the messages the pool and a
 * thread exchange (JobMessage, JobReply, WorkerReady).
 *
 * Apart from the pool because most of its users never schedule a job: a
 * worker module (lib/jobs/worker.ts) only answers messages, the entry
 * points that re-enter themselves as a thread (server.ts, client.ts,
 * lib/bench/worker.ts) only ask where they run.
 */

/** True inside a Web Worker, false on the main thread. */
export function inWorkerThread(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown })
    .WorkerGlobalScope;
  return scope !== undefined && globalThis instanceof scope;
}

/** A message to a worker: one job. */
export interface JobMessage<J> {
  id: number;
  job: J;
}

/**
 * A worker's answer to one job: its result, or (for a job longer than a
 * slice) the rest of it to run later, or its failure with the errno name of
 * what it threw (`EMFILE`, `EACCES`), if it had one.
 */
export type JobReply<J, R> =
  | { id: number; ok: true; result: R }
  | { id: number; ok: true; rest: J }
  | { id: number; ok: false; error: string; code?: string };

/** What a worker posts once, when its module has loaded and it takes jobs. */
export interface WorkerReady {
  ready: true;
}

/**
 * Called by a worker module once it listens for jobs (see `WorkerPool.start`
 * in lib/jobs/pool.ts), on the endpoint its jobs come from: the worker's
 * own scope by default.
 */
export function announceReady(
  endpoint: { postMessage(message: WorkerReady): void } = self as unknown as {
    postMessage(message: WorkerReady): void;
  },
): void {
  endpoint.postMessage({ ready: true });
}

/** A worker thread as the pool drives it, wherever it was started. */
export interface WorkerHandle {
  postMessage(message: JobMessage<unknown>): void;
  terminate(): void;
}

/** What a started worker thread reports to the pool. */
export interface WorkerEvents {
  /** Each message the worker posts (a JobReply or WorkerReady). */
  onMessage(data: unknown): void;
  /** Once, if the thread dies (an uncaught error, a module that cannot load). */
  onDeath(error: string): void;
}

/**
 * Starts one worker thread. The default starts a Web Worker from the pool's
 * own thread ({@linkcode localWorkers}); tests start faulty ones.
 */
export type SpawnWorker = (events: WorkerEvents) => WorkerHandle;

/** Starts each worker as a Web Worker of this thread, running `moduleUrl`. */
export function localWorkers(moduleUrl: URL): SpawnWorker {
  return (events) => {
    const worker = new Worker(moduleUrl, { type: "module" });
    worker.onmessage = (event: MessageEvent) => events.onMessage(event.data);
    worker.onerror = (event: ErrorEvent) => {
      // Without preventDefault an uncaught error in a worker takes the whole process down.
      event.preventDefault();
      events.onDeath(event.message || "worker crashed");
    };
    return worker;
  };
}
