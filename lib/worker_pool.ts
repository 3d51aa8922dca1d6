/**
 * A pool of Web Workers (real threads) for CPU-heavy jobs, so the event loop
 * that serves every client never runs them itself. Jobs wait in one FIFO
 * queue; each idle worker takes the next one. A job that throws fails only
 * its own request; a worker that dies is replaced and the pool lives on.
 *
 * The queue holds batches (one per request, with a count of jobs still to
 * start) rather than one entry per job, so a request of a million jobs costs
 * one queue entry, and cancelling it removes all of them at once.
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

/** A worker's answer to one job. */
export type JobReply<R> = { id: number; ok: true; result: R } | {
  id: number;
  ok: false;
  error: string;
};

/** Options of {@linkcode WorkerPool}. */
export interface WorkerPoolOptions {
  /** Number of worker threads. */
  size: number;
  /** The worker module: it answers each JobMessage with a JobReply. */
  moduleUrl: URL;
  /** Told when a worker dies and is replaced. */
  onWorkerDeath?: (workerId: number, error: string) => void;
}

/** Pool counters for STATS. */
export interface PoolStats {
  workers: number;
  jobs_total: number;
  jobs_running: number;
  jobs_queued: number;
}

/** Thrown for the jobs of a batch that was cancelled before they ran. */
export class JobsCancelledError extends Error {
  override name = "JobsCancelledError";
}

/** Thrown when a job failed (it threw, or its worker died). */
export class JobFailedError extends Error {
  override name = "JobFailedError";
}

interface Batch<J, R> {
  makeJob: (index: number) => J;
  total: number;
  started: number;
  finished: number;
  failed: boolean;
  onResult: (result: R, index: number, workerId: number) => void;
  resolve: () => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
}

interface Slot<J, R> {
  id: number;
  worker: Worker;
  /** The job in hand, if any. */
  current: { messageId: number; batch: Batch<J, R>; index: number } | undefined;
}

/** A fixed-size pool of workers with a FIFO queue of job batches. */
export class WorkerPool<J, R> {
  readonly size: number;
  readonly #moduleUrl: URL;
  readonly #onWorkerDeath: WorkerPoolOptions["onWorkerDeath"];
  readonly #slots: Slot<J, R>[] = [];
  readonly #queue: Batch<J, R>[] = [];
  #nextMessageId = 1;
  #nextWorkerId = 1;
  #jobsTotal = 0;
  #closed = false;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isSafeInteger(options.size) || options.size < 1) {
      throw new RangeError(`worker pool size must be a positive integer: received ${options.size}`);
    }
    this.size = options.size;
    this.#moduleUrl = options.moduleUrl;
    this.#onWorkerDeath = options.onWorkerDeath;
  }

  /** Counters for STATS; workers are started on first use. */
  stats(): PoolStats {
    let queued = 0;
    for (const batch of this.#queue) queued += batch.total - batch.started;
    return {
      workers: this.size,
      jobs_total: this.#jobsTotal,
      jobs_running: this.#slots.filter((s) => s.current !== undefined).length,
      jobs_queued: queued,
    };
  }

  /**
   * Runs `total` jobs (`makeJob(i)` builds job i) and resolves when all are
   * done; `onResult` sees each result as it comes. Rejects with
   * JobFailedError on the first failure (the rest are dropped) and with
   * JobsCancelledError when `signal` aborts (jobs not yet started never run).
   */
  runBatch(
    total: number,
    makeJob: (index: number) => J,
    options: {
      onResult?: (result: R, index: number, workerId: number) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<void> {
    if (this.#closed) return Promise.reject(new JobsCancelledError("the worker pool is closed"));
    if (total === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const batch: Batch<J, R> = {
        makeJob,
        total,
        started: 0,
        finished: 0,
        failed: false,
        onResult: options.onResult ?? (() => {}),
        resolve,
        reject,
        signal: options.signal,
      };
      if (options.signal?.aborted) return reject(new JobsCancelledError("cancelled"));
      options.signal?.addEventListener("abort", () => this.#cancel(batch), { once: true });
      this.#queue.push(batch);
      this.#ensureWorkers();
      this.#dispatch();
    });
  }

  /** Stops every worker; queued batches are cancelled. */
  close(): void {
    this.#closed = true;
    for (const batch of this.#queue.splice(0)) {
      this.#fail(batch, new JobsCancelledError("the worker pool is closed"));
    }
    for (const slot of this.#slots) {
      if (slot.current) {
        this.#fail(slot.current.batch, new JobsCancelledError("the worker pool is closed"));
      }
      slot.worker.terminate();
    }
    this.#slots.length = 0;
  }

  #ensureWorkers(): void {
    while (this.#slots.length < this.size) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot<J, R> {
    const worker = new Worker(this.#moduleUrl, { type: "module" });
    const slot: Slot<J, R> = { id: this.#nextWorkerId++, worker, current: undefined };
    worker.onmessage = (event: MessageEvent<JobReply<R>>) => this.#settle(slot, event.data);
    worker.onerror = (event: ErrorEvent) => {
      // Without preventDefault an uncaught error in a worker takes the whole process down.
      event.preventDefault();
      this.#replace(slot, event.message || "worker crashed");
    };
    return slot;
  }

  #replace(slot: Slot<J, R>, error: string): void {
    slot.worker.terminate();
    const index = this.#slots.indexOf(slot);
    if (index === -1) return;
    this.#onWorkerDeath?.(slot.id, error);
    if (slot.current) {
      this.#fail(slot.current.batch, new JobFailedError(`worker ${slot.id} died: ${error}`));
    }
    slot.current = undefined;
    this.#slots.splice(index, 1);
    // Respawn only for queued work: a module that cannot even load then
    // fails one batch per death instead of respawning in a hot loop.
    if (!this.#closed && this.#queue.length > 0) {
      this.#ensureWorkers();
      this.#dispatch();
    }
  }

  #settle(slot: Slot<J, R>, reply: JobReply<R>): void {
    const current = slot.current;
    if (current === undefined || current.messageId !== reply.id) return;
    slot.current = undefined;
    this.#jobsTotal++;
    const batch = current.batch;
    if (!batch.failed) {
      if (reply.ok) {
        batch.finished++;
        batch.onResult(reply.result, current.index, slot.id);
        if (batch.finished === batch.total) batch.resolve();
      } else {
        this.#fail(batch, new JobFailedError(reply.error));
      }
    }
    this.#dispatch();
  }

  /** Gives every idle worker the next job from the head of the queue. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.current !== undefined) continue;
      const batch = this.#queue[0];
      if (batch === undefined) return;
      const index = batch.started++;
      if (batch.started === batch.total) this.#queue.shift();
      const messageId = this.#nextMessageId++;
      slot.current = { messageId, batch, index };
      const message: JobMessage<J> = { id: messageId, job: batch.makeJob(index) };
      slot.worker.postMessage(message);
    }
  }

  #cancel(batch: Batch<J, R>): void {
    this.#fail(batch, new JobsCancelledError("cancelled"));
  }

  /** Drops the batch's jobs that have not started; jobs already running finish and are ignored. */
  #fail(batch: Batch<J, R>, error: Error): void {
    if (batch.failed) return;
    batch.failed = true;
    const index = this.#queue.indexOf(batch);
    if (index !== -1) this.#queue.splice(index, 1);
    batch.reject(error);
  }
}
