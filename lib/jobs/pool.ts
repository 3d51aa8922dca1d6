/**
 * A pool of Web Workers (real threads) for CPU-heavy jobs, so the event loop
 * that serves every client never runs them itself. A job that throws fails
 * only its own request; a worker that dies is replaced and the pool lives on.
 * Starting a thread and the messages it exchanges with the pool are
 * lib/worker_thread.ts's; this file is the scheduling.
 *
 * Jobs come in batches (one per request, with a count of jobs still to
 * start), so a request of a million jobs costs one queue entry, and
 * cancelling it removes all of them at once.
 *
 * Fairness: the batches take turns, in slices. An idle worker takes one
 * job (or the rest of one) from the batch at the head of the queue, and
 * that batch goes to the back if it has more; a new batch joins at the
 * back too. The queue is a FIFO of turns, as a time-sharing kernel's run
 * queue gives each runnable process a slice before any gets a second. And
 * like a kernel's timer tick, or Go's runtime preempting a goroutine after
 * 10 ms, a long job does not keep its worker: the worker module may do one
 * slice of it and answer with what is left (`JobReply.rest`), which goes
 * back in line. So a request of one tiny job waits one slice of each
 * request ahead of it; first-come-first-served would let one request of
 * sixty one-second jobs hold every worker for a minute while it waits.
 *
 * Why the back and not the head: a batch only ever moves forward in the
 * queue, one place per turn taken ahead of it, and whatever joins later
 * (new requests, batches coming round again) joins behind it, so its wait
 * is bounded by the batches present when it arrived: at most one slice of
 * each, plus the slices already running. New batches starting at the head
 * would be last-come-first-served: under steady traffic the newest
 * requests always go first, and a waiting one can wait without bound
 * (measured that way, 10 clients looping `COUNT 0 1 10` for 15 s got 26 to
 * 366 replies each, worst wait 9.2 s; with 30 clients one got a single reply).
 *
 * Bounded twice: each batch says what a job costs (for COUNT, its
 * milliseconds of work), and the pool refuses a batch that would take the
 * work not yet done past `maxPendingCost`, or the jobs not yet done past
 * `maxPendingJobs`, so a few clients that queue long jobs and leave cannot
 * pin the workers for long (docs/protocol.md#commands). Two limits, because a job costs its
 * round trip even with no work: charging every job at least that in the
 * one work budget (tried) let one budget-filling COUNT shut out every
 * other, the short ones that round-robin promises a turn included; the job
 * count bounds the round trips apart. A batch that finds nothing pending
 * is let in whatever it asks, so a request allowed on its own waits for a
 * quiet moment instead of being refused forever. A hash for FILE GET costs
 * no work against it: lib/jobs/hash_job.ts says why.
 */
import type {
  JobMessage,
  JobReply,
  SpawnWorker,
  WorkerHandle,
  WorkerReady,
} from "../worker_thread.ts";

/** Options of {@linkcode WorkerPool}. */
export interface WorkerPoolOptions {
  /** Number of worker threads. */
  size: number;
  /**
   * Starts one worker: a Web Worker of this thread (`localWorkers` in
   * lib/worker_thread.ts), or one the main thread started and handed over
   * (lib/server/net_thread.ts). Its module calls
   * `announceReady()`, then answers each JobMessage with a JobReply.
   */
  spawn: SpawnWorker;
  /** Told when a worker dies and is replaced. */
  onWorkerDeath?: (workerId: number, error: string) => void;
  /**
   * The most cost (see `runBatch`'s `cost`) of jobs not yet finished; a batch
   * that would go past it is refused, unless nothing is pending. Default: no limit.
   */
  maxPendingCost?: number;
  /** The most jobs not yet finished, alike; default: no limit. */
  maxPendingJobs?: number;
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
  /** The errno name of what the job threw, so a storage error keeps its reply code. */
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** Thrown by `runBatch` when the batch would take the pending cost past the limit. */
export class PoolFullError extends Error {
  override name = "PoolFullError";
  constructor(readonly pendingCost: number, readonly pendingJobs: number) {
    super(`the worker pool is full (${pendingCost} of work and ${pendingJobs} jobs waiting)`);
  }
}

interface Batch<J, R> {
  makeJob: (index: number) => J;
  total: number;
  started: number;
  /** Jobs that ran a slice and gave back the rest, with their index, to run before new ones. */
  rests: Array<{ job: J; index: number }>;
  finished: number;
  /** What each job counts against `maxPendingCost`. */
  cost: number;
  failed: boolean;
  onResult: (result: R, index: number, workerId: number) => void;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Slot<J, R> {
  id: number;
  worker: WorkerHandle;
  /** Resolves when the worker announced it is ready. */
  ready: Promise<void>;
  /** The job (or slice) in hand, if any. */
  current: { messageId: number; batch: Batch<J, R>; index: number } | undefined;
}

/** A fixed-size pool of workers; batches take turns (round-robin). */
export class WorkerPool<J, R> {
  readonly size: number;
  readonly #spawnWorker: SpawnWorker;
  readonly #onWorkerDeath: WorkerPoolOptions["onWorkerDeath"];
  readonly #maxPendingCost: number;
  readonly #maxPendingJobs: number;
  readonly #slots: Slot<J, R>[] = [];
  /** Batches with jobs still to start, in turn order. */
  readonly #queue: Batch<J, R>[] = [];
  #pendingCost = 0;
  #pendingJobs = 0;
  #nextMessageId = 1;
  #nextWorkerId = 1;
  #jobsTotal = 0;
  #closed = false;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isSafeInteger(options.size) || options.size < 1) {
      throw new RangeError(`worker pool size must be a positive integer: received ${options.size}`);
    }
    this.size = options.size;
    this.#spawnWorker = options.spawn;
    this.#onWorkerDeath = options.onWorkerDeath;
    this.#maxPendingCost = options.maxPendingCost ?? Infinity;
    this.#maxPendingJobs = options.maxPendingJobs ?? Infinity;
  }

  /**
   * Starts every worker now and resolves once each has loaded, instead of
   * on the first job. A server does this before it accepts anyone: a
   * thread started later, when clients may have used up the descriptors,
   * can fail to start (Deno then panics, docs/protocol.md#limits-and-bad-input).
   */
  async start(): Promise<void> {
    this.#ensureWorkers();
    await Promise.all(this.#slots.map((slot) => slot.ready));
  }

  /** Counters for STATS. */
  stats(): PoolStats {
    let queued = 0;
    for (const batch of this.#queue) queued += batch.total - batch.started + batch.rests.length;
    return {
      workers: this.size,
      jobs_total: this.#jobsTotal,
      jobs_running: this.#slots.filter((s) => s.current !== undefined).length,
      jobs_queued: queued,
    };
  }

  /** The cost of the jobs not yet finished, over every batch. */
  get pendingCost(): number {
    return this.#pendingCost;
  }

  /**
   * Runs `total` jobs (`makeJob(i)` builds job i) and resolves when all are
   * done; `onResult` sees each result as it comes. Rejects with
   * PoolFullError at once if `total` × `cost` would take the pending cost
   * past the limit (and some is pending), with JobFailedError on the first failure (the rest are
   * dropped), and with JobsCancelledError when `signal` aborts (jobs not yet
   * started never run).
   */
  runBatch(
    total: number,
    makeJob: (index: number) => J,
    options: {
      onResult?: (result: R, index: number, workerId: number) => void;
      signal?: AbortSignal;
      /** What each job counts against the pool's `maxPendingCost` (default 0). */
      cost?: number;
    } = {},
  ): Promise<void> {
    if (this.#closed) return Promise.reject(new JobsCancelledError("the worker pool is closed"));
    if (total === 0) return Promise.resolve();
    const cost = options.cost ?? 0;
    const over = this.#pendingCost + total * cost > this.#maxPendingCost ||
      this.#pendingJobs + total > this.#maxPendingJobs;
    if (this.#pendingJobs > 0 && over) {
      return Promise.reject(new PoolFullError(this.#pendingCost, this.#pendingJobs));
    }
    if (options.signal?.aborted) return Promise.reject(new JobsCancelledError("cancelled"));
    return new Promise<void>((resolve, reject) => {
      const batch: Batch<J, R> = {
        makeJob,
        total,
        started: 0,
        rests: [],
        finished: 0,
        cost,
        failed: false,
        onResult: options.onResult ?? (() => {}),
        resolve,
        reject,
      };
      this.#pendingCost += total * cost;
      this.#pendingJobs += total;
      options.signal?.addEventListener("abort", () => this.#cancel(batch), { once: true });
      // Behind every batch already waiting, never ahead: see the header on
      // why that is what makes the turns starvation-free.
      this.#queue.push(batch);
      this.#ensureWorkers();
      this.#dispatch();
    });
  }

  /** Runs one job, a batch of its own (so it takes turns like any request), and resolves with its result. */
  async run(
    job: J,
    options: { signal?: AbortSignal; cost?: number } = {},
  ): Promise<R> {
    let result: { value: R } | undefined;
    await this.runBatch(1, () => job, { ...options, onResult: (value) => result = { value } });
    return result!.value;
  }

  /** Stops every worker; queued batches are cancelled. */
  close(): void {
    this.#closed = true;
    for (const batch of [...this.#queue]) {
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
    const { promise: ready, resolve, reject } = Promise.withResolvers<void>();
    ready.catch(() => {}); // awaited by start() only
    const id = this.#nextWorkerId++;
    const slot: Slot<J, R> = {
      id,
      worker: this.#spawnWorker({
        onMessage: (data) => {
          const message = data as JobReply<J, R> | WorkerReady;
          if ("ready" in message) resolve();
          else this.#settle(slot, message);
        },
        onDeath: (error) => {
          reject(new Error(`worker ${id} failed to start: ${error}`));
          this.#replace(slot, error);
        },
      }),
      ready,
      current: undefined,
    };
    return slot;
  }

  #replace(slot: Slot<J, R>, error: string): void {
    slot.worker.terminate();
    const index = this.#slots.indexOf(slot);
    if (index === -1) return;
    this.#onWorkerDeath?.(slot.id, error);
    const current = slot.current;
    slot.current = undefined;
    this.#slots.splice(index, 1);
    if (current) {
      this.#jobDone(current.batch);
      this.#fail(current.batch, new JobFailedError(`worker ${slot.id} died: ${error}`));
    }
    // Respawn only for queued work: a module that cannot even load then
    // fails one batch per death instead of respawning in a hot loop.
    if (!this.#closed && this.#queue.length > 0) {
      this.#ensureWorkers();
      this.#dispatch();
    }
  }

  #settle(slot: Slot<J, R>, reply: JobReply<J, R>): void {
    const current = slot.current;
    if (current === undefined || current.messageId !== reply.id) return;
    slot.current = undefined;
    const batch = current.batch;
    if (reply.ok && "rest" in reply) {
      // One slice done: the rest goes back in line, behind the other batches' turns.
      if (!batch.failed) {
        if (batch.rests.length === 0 && batch.started === batch.total) this.#queue.push(batch);
        batch.rests.push({ job: reply.rest, index: current.index });
      } else this.#jobDone(batch);
      this.#dispatch();
      return;
    }
    this.#jobsTotal++;
    this.#jobDone(batch);
    if (!batch.failed) {
      if (reply.ok) {
        batch.finished++;
        batch.onResult(reply.result, current.index, slot.id);
        if (batch.finished === batch.total) batch.resolve();
      } else {
        this.#fail(batch, new JobFailedError(reply.error, reply.code));
      }
    }
    this.#dispatch();
  }

  /**
   * Gives every idle worker one job from the batch whose turn it is (the
   * rest of a sliced job first, else a new one), and sends that batch to
   * the back if it has more.
   */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.current !== undefined) continue;
      const batch = this.#queue.shift();
      if (batch === undefined) return;
      const rest = batch.rests.shift();
      const index = rest?.index ?? batch.started++;
      const job = rest?.job ?? batch.makeJob(index);
      if (batch.rests.length > 0 || batch.started < batch.total) this.#queue.push(batch);
      const messageId = this.#nextMessageId++;
      slot.current = { messageId, batch, index };
      const message: JobMessage<J> = { id: messageId, job };
      slot.worker.postMessage(message);
    }
  }

  #cancel(batch: Batch<J, R>): void {
    this.#fail(batch, new JobsCancelledError("cancelled"));
  }

  /**
   * Drops the batch's jobs that have not started (their cost with them);
   * jobs already running finish, are ignored, and give their cost back then.
   */
  #fail(batch: Batch<J, R>, error: Error): void {
    if (batch.failed) return;
    batch.failed = true;
    const index = this.#queue.indexOf(batch);
    if (index !== -1) this.#queue.splice(index, 1);
    const dropped = batch.total - batch.started + batch.rests.length;
    this.#pendingCost -= dropped * batch.cost;
    this.#pendingJobs -= dropped;
    batch.rests.length = 0;
    batch.reject(error);
  }

  /** One job of `batch` is over (done, failed or dropped): its cost and place are free again. */
  #jobDone(batch: Batch<J, R>): void {
    this.#pendingCost -= batch.cost;
    this.#pendingJobs--;
  }
}
