/**
 * The worker threads' side of lib/jobs/pool.ts (its messages are
 * lib/worker_thread.ts's): the kinds of job they run and the dispatcher
 * that hands each job to its kind's runner. A kind is one file beside this
 * one (count_job.ts, hash_job.ts, list_job.ts, calc_job.ts) and one case below.
 *
 * The threads' entry is the server's own entry file (server.ts), which
 * calls {@linkcode serveJobs} when it finds itself in a worker thread, so a
 * bundle or a compiled binary re-enters itself; run directly (tests), this
 * file serves on its own.
 */
import { announceReady, inWorkerThread, type JobMessage, type JobReply } from "../worker_thread.ts";
import { type CalcJob, type CalcResult, runCalcJob } from "./calc_job.ts";
import { type CountJob, type CountResult, runCountJob } from "./count_job.ts";
import { type HashJob, type HashResult, runHashJob } from "./hash_job.ts";
import { type ListJob, type ListResult, runListJob } from "./list_job.ts";

/** Every job a worker thread runs. */
export type Job = CountJob | HashJob | ListJob | CalcJob;

/** What a worker thread answers to a job. */
export type JobResult = CountResult | HashResult | ListResult | CalcResult;

/**
 * What a job (or one slice of it) comes to: its result, with the buffers
 * that move to the pool's thread instead of being copied (a listing's
 * bytes), or the rest of the job.
 */
export type JobOutcome =
  | { result: JobResult; transfer?: ArrayBuffer[] }
  | { rest: Job; transfer?: never };

/** Runs `job` (or one slice of it) with the runner of its kind. */
export async function runJob(job: Job): Promise<JobOutcome> {
  switch (job.kind) {
    case "count":
      return runCountJob(job);
    case "hash":
      return { result: await runHashJob(job) };
    case "calc":
      return { result: runCalcJob(job) };
    case "list": {
      const result = runListJob(job);
      return { result, transfer: [result.lines.buffer as ArrayBuffer] };
    }
  }
}

/** Where a worker's jobs come from and its answers go: its own scope, or a port it was handed. */
interface JobEndpoint {
  onmessage: ((event: MessageEvent<JobMessage<Job>>) => void) | null;
  postMessage(
    message: JobReply<Job, JobResult> | { ready: true },
    transfer?: Transferable[],
  ): void;
}

/**
 * Answers every job posted to this worker thread, one job at a time (the
 * pool sends no more). A worker started by another thread than the pool's
 * (see lib/server/net_thread.ts) is first sent `{ jobsPort }`: a
 * MessagePort to the pool, on which it then serves instead.
 */
export function serveJobs(): void {
  // Typed narrowly so this file also checks under the main thread's lib.
  const scope = self as unknown as JobEndpoint;
  serveOn(scope);
  const onScope = scope.onmessage!;
  scope.onmessage = (event) => {
    const port = (event.data as { jobsPort?: MessagePort }).jobsPort;
    if (port === undefined) return onScope(event);
    serveOn(port as unknown as JobEndpoint);
  };
}

/** Runs each job that arrives on `endpoint` and posts its answer back there. */
function serveOn(endpoint: JobEndpoint): void {
  endpoint.onmessage = async (event) => {
    const { id, job } = event.data;
    try {
      const { transfer, ...outcome } = await runJob(job);
      endpoint.postMessage({ id, ok: true, ...outcome }, transfer ?? []);
    } catch (error) {
      // The errno name crosses with the message, so that an out-of-descriptors
      // or permission error still becomes its own reply (lib/server/connection/storage_errors.ts).
      const code = (error as { code?: unknown } | null)?.code;
      endpoint.postMessage({
        id,
        ok: false,
        error: String(error),
        ...(typeof code === "string" ? { code } : {}),
      });
    }
  };
  announceReady(endpoint);
}

if (import.meta.main && inWorkerThread()) serveJobs();
