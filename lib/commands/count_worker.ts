/**
 * The worker thread of COUNT jobs (run by lib/worker_pool.ts). Each job works
 * the CPU for `workMs`, then adds 1 to the request's shared counter under the
 * cross-thread lock, and reports the value it saw afterwards.
 *
 * The worker's entry is the server's own entry file (server.ts), which
 * calls {@linkcode serveCountJobs} when it finds itself in a worker thread,
 * so a bundle or a compiled binary re-enters itself; run directly (tests),
 * this file serves on its own.
 */
import { AtomicMutex } from "../lock.ts";
import { announceReady, inWorkerThread, type JobMessage, type JobReply } from "../worker_pool.ts";

/** Index of the lock word in a COUNT request's shared cells. */
export const LOCK_CELL = 0;
/** Index of the increment counter in a COUNT request's shared cells. */
export const COUNTER_CELL = 1;

/** One increment of a COUNT request. */
export interface CountJob {
  /** Int32Array over a SharedArrayBuffer: [lock word, increments so far]. */
  cells: Int32Array;
  workMs: number;
}

/** What a job reports back. */
export interface CountResult {
  /** The shared counter right after this job's increment. */
  seen: number;
}

/**
 * The most CPU milliseconds a job runs before its worker answers with the
 * rest (see lib/worker_pool.ts on slices): a job of another request waits
 * at most this long for a worker. Each slice costs a message round trip
 * (tens of microseconds), well under 1 % at this size.
 */
export const SLICE_MS = 10;

/** Real CPU work (not a sleep) for `ms` milliseconds. */
function burnCpu(ms: number): number {
  const end = performance.now() + ms;
  let x = 1;
  while (performance.now() < end) {
    for (let i = 0; i < 10_000; i++) x = (x * 1103515245 + 12345) | 0;
  }
  return x;
}

/** One slice of a job: its result, or the job with the work still to do. */
function runSlice(job: CountJob): { result: CountResult } | { rest: CountJob } {
  if (job.workMs > SLICE_MS) {
    burnCpu(SLICE_MS);
    return { rest: { cells: job.cells, workMs: job.workMs - SLICE_MS } };
  }
  return { result: increment(job) };
}

/** The last slice: the rest of the work, then +1 under the lock. */
function increment(job: CountJob): CountResult {
  burnCpu(job.workMs);
  const mutex = new AtomicMutex(job.cells, LOCK_CELL);
  mutex.lock();
  try {
    // A read, then a separate write: without the lock two workers can read
    // the same value and one increment is lost.
    const before = job.cells[COUNTER_CELL]!;
    job.cells[COUNTER_CELL] = before + 1;
    return { seen: before + 1 };
  } finally {
    mutex.unlock();
  }
}

/** Answers every job message posted to this worker thread. */
export function serveCountJobs(): void {
  // Typed narrowly so this file also checks under the main thread's lib.
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent<JobMessage<CountJob>>) => void) | null;
    postMessage(message: JobReply<CountJob, CountResult>): void;
  };
  scope.onmessage = (event) => {
    const { id, job } = event.data;
    try {
      scope.postMessage({ id, ok: true, ...runSlice(job) });
    } catch (error) {
      scope.postMessage({ id, ok: false, error: String(error) });
    }
  };
  announceReady();
}

if (import.meta.main && inWorkerThread()) serveCountJobs();
