/**
 * The worker threads' side of lib/worker_pool.ts (its messages are
 * lib/worker_thread.ts's): the kinds of job they run and the dispatcher
 * that hands each job to its kind's runner. A kind is one file beside this
 * one (count_job.ts, hash_job.ts) and one case below.
 *
 * The threads' entry is the server's own entry file (server.ts), which
 * calls {@linkcode serveJobs} when it finds itself in a worker thread, so a
 * bundle or a compiled binary re-enters itself; run directly (tests), this
 * file serves on its own.
 */
import { announceReady, inWorkerThread, type JobMessage, type JobReply } from "../worker_thread.ts";
import { type CountJob, type CountResult, runCountJob } from "./count_job.ts";
import { type HashJob, type HashResult, runHashJob } from "./hash_job.ts";

/** Every job a worker thread runs. */
export type Job = CountJob | HashJob;

/** What a worker thread answers to a job. */
export type JobResult = CountResult | HashResult;

/** Runs `job` (or one slice of it) with the runner of its kind: its result, or the rest of it. */
export async function runJob(job: Job): Promise<{ result: JobResult } | { rest: Job }> {
  switch (job.kind) {
    case "count":
      return runCountJob(job);
    case "hash":
      return { result: await runHashJob(job) };
  }
}

/** Where a worker's jobs come from and its answers go: its own scope, or a port it was handed. */
interface JobEndpoint {
  onmessage: ((event: MessageEvent<JobMessage<Job>>) => void) | null;
  postMessage(message: JobReply<Job, JobResult> | { ready: true }): void;
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
      endpoint.postMessage({ id, ok: true, ...await runJob(job) });
    } catch (error) {
      // The errno name crosses with the message, so that an out-of-descriptors
      // or permission error still becomes its own reply (commands/storage_errors.ts).
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
