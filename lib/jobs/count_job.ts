/**
 * The COUNT job (docs/protocol.md#commands COUNT): one increment of a COUNT request, run on a
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
 * rest (see lib/jobs/pool.ts on slices): a job of another request waits
 * at most this long for a worker. Each slice costs a message round trip
 * (tens of microseconds), well under 1 % at this size.
 */
export const SLICE_MS = 10;

/**
 * What an increment costs at least, in milliseconds, however small its
 * work-ms: an increment of no work still costs its job's round trip
 * between the event loop and a worker, and the lock. It sizes the pool's
 * bound on jobs waiting (lib/commands/count.ts `MAX_JOBS_WAITING`)
 * and the work a busy reply says is waiting. Bounded by work-ms alone,
 * `COUNT 0 1000000 0` cost nothing and was always let in, though it holds
 * a worker for about 80 s: four clients that sent it and half-closed
 * (still owed a reply) held four running slots for minutes.
 * Measured with `COUNT 0 100000 0` on a server with `--workers 1` (so the
 * worker's time is the wall time), on a shared 2-core machine: 0.053 to
 * 0.087 ms per increment over six runs, mostly about 0.08. 5/64 = 0.078125
 * rather than 0.08 because a binary fraction adds and subtracts exactly:
 * taking 0.08 a million times from their sum leaves -1.4e-6, not 0, and
 * such dust, once above 0, would read "1 s of work waiting" from an idle
 * pool and keep it from letting in the batch that finds nothing pending.
 * More workers do not take it lower: the round trips all go through the
 * one event loop (two workers, two such clients: 0.067 ms per increment).
 */
export const INCREMENT_COST_FLOOR_MS = 5 / 64;

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
