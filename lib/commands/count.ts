/**
 * COUNT: the lab's counting server. Each increment is its own job on the
 * worker threads — CPU work, then +1 on one value shared by the request's
 * jobs, under the cross-thread lock — while the event loop keeps serving
 * everyone else (docs/protocol.md#commands, "Details").
 */
import { COUNTER_CELL, INCREMENT_COST_FLOOR_MS } from "../jobs/count_job.ts";
import { INTEGER_WORD as INTEGER, ok, ProtocolError } from "../protocol/mod.ts";
import { JobFailedError, JobsCancelledError, PoolFullError } from "../jobs/pool.ts";
import { type Command, expectArgs, truncate } from "./command.ts";
import { declared } from "./catalog.ts";

/** Most increments one request may ask for. */
export const MAX_INCREMENTS = 1_000_000;
/** Most CPU milliseconds per increment. */
export const MAX_WORK_MS = 10_000;
/**
 * Most CPU milliseconds one request may cost in all: one CPU-minute. With
 * the server-wide bound on work waiting (lib/server/services.ts), a client
 * that queues long COUNTs and leaves pins the workers for about a minute,
 * not for hours.
 */
export const MAX_TOTAL_WORK_MS = 60_000;
/**
 * COUNT jobs waiting server-wide at most: a minute of job round trips at
 * INCREMENT_COST_FLOOR_MS each, 768,000. Not per worker: every round trip
 * goes through the one event loop, so more workers do not drain them
 * faster (scaled by `--workers` as first written, four zero-work COUNTs
 * that closed held their slots for 119 s on two workers). With it,
 * zero-work COUNTs pin the workers for about a minute too, while a short
 * COUNT still gets in behind a long one that filled the work budget (it
 * adds work 0 and a few jobs).
 */
export const MAX_JOBS_WAITING = MAX_TOTAL_WORK_MS / INCREMENT_COST_FLOOR_MS;

const USAGE = "COUNT takes <start> <increments> [<work-ms>]";

function boundedInt(word: string, name: string, max: number): number {
  const n = /^\d+$/.test(word) ? Number(word) : NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new ProtocolError(
      "bad-args",
      `${name} must be an integer from 0 to ${max}: received "${truncate(word, 32)}"`,
    );
  }
  return n;
}

/** `COUNT <start> <increments> [<work-ms>]`. */
export const COUNT: Command = {
  ...declared("COUNT"),
  usage: ["COUNT <start> <increments> [<work-ms>]"],
  summary: "each increment a job on the worker threads: work-ms of CPU, then +1 under a lock",
  cancelOnDisconnect: true,
  async run(request, { session, services, signal }) {
    const args = request.args();
    expectArgs(args, { min: 2, max: 3 }, USAGE);
    const [startWord, incrementsWord, workWord = "0"] = args as [string, string, string?];
    if (!INTEGER.test(startWord)) {
      throw new ProtocolError(
        "bad-args",
        `start must be an integer (any length): received "${truncate(startWord, 32)}"`,
      );
    }
    const start = BigInt(startWord);
    const increments = boundedInt(incrementsWord, "increments", MAX_INCREMENTS);
    const workMs = boundedInt(workWord, "work-ms", MAX_WORK_MS);
    if (increments * workMs > MAX_TOTAL_WORK_MS) {
      throw new ProtocolError(
        "bad-args",
        `increments × work-ms must be at most ${MAX_TOTAL_WORK_MS}: received ${increments} × ${workMs} = ${
          increments * workMs
        }`,
      );
    }
    // [lock word, increments so far]; the exact start is added at the end,
    // so a start of any size stays exact.
    const cells = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
    const logger = services.logger;
    try {
      await services.workers.runBatch(increments, () => ({ kind: "count", cells, workMs }), {
        signal,
        cost: workMs,
        onResult: (result, index, worker) => {
          if (logger.debugEnabled && result.kind === "counted") {
            logger.debug(`job ${index + 1}/${increments}`, {
              client: session.id,
              worker,
              work_ms: workMs,
              seen: result.seen,
            });
          }
        },
      });
    } catch (error) {
      if (error instanceof PoolFullError) {
        // The work waiting, or the jobs' round trips where those weigh more.
        const waitingMs = Math.max(error.pendingCost, error.pendingJobs * INCREMENT_COST_FLOOR_MS);
        const seconds = Math.ceil(waitingMs / 1000);
        throw new ProtocolError(
          "busy",
          `job queue full (${seconds} s of work waiting); try again later`,
        );
      }
      if (error instanceof JobFailedError) {
        throw new ProtocolError("internal", `a COUNT job failed: ${error.message}`);
      }
      if (error instanceof JobsCancelledError) {
        throw new ProtocolError("internal", `COUNT was cancelled: ${error.message}`);
      }
      throw error;
    }
    return ok(String(start + BigInt(Atomics.load(cells, COUNTER_CELL))));
  },
};
