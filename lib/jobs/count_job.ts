/**
 * The COUNT job (SPEC §4 COUNT): one increment of a COUNT request, run on a
 * worker thread. It works the CPU for `workMs`, then adds 1 to the
 * request's shared counter under the cross-thread lock, and reports the
 * value it saw afterwards. lib/jobs/worker.ts hands it the jobs of its kind.
 */
import { AtomicMutex } from "../lock.ts";

/** Index of the lock word in a COUNT request's shared cells. */
export const LOCK_CELL = 0;
/** Index of the increment counter in a COUNT request's shared cells. */
export const COUNTER_CELL = 1;

/** One increment of a COUNT request. */
export interface CountJob {
  kind: "count";
  /** Int32Array over a SharedArrayBuffer: [lock word, increments so far]. */
  cells: Int32Array;
  workMs: number;
}

/** What a COUNT job reports back. */
export interface CountResult {
  kind: "counted";
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

/** One slice of an increment: its result, or the job with the work still to do. */
export function runCountJob(job: CountJob): { result: CountResult } | { rest: CountJob } {
  if (job.workMs > SLICE_MS) {
    burnCpu(SLICE_MS);
    return { rest: { ...job, workMs: job.workMs - SLICE_MS } };
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
    return { kind: "counted", seen: before + 1 };
  } finally {
    mutex.unlock();
  }
}
