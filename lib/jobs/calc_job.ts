/**
 * The calc job: a CALC on operands of thousands of digits, done on a worker
 * thread so that parsing and printing them (milliseconds each) never holds
 * the thread that serves connections (lib/commands/calc.ts says when).
 */
import { evaluate, type Operator } from "./arithmetic.ts";
import { type ErrorCode, ProtocolError } from "../protocol/mod.ts";

/**
 * What a calc job counts against the worker pool's pending-work budget:
 * nothing, as a hash job (hash_job.ts says why): each is one job waited
 * for by a connection that holds a running slot, so at most about
 * --max-running are queued, and none takes more than tens of milliseconds.
 */
export const CALC_JOB_COST = 0;

/** Calculate `a` `op` `b`. */
export interface CalcJob {
  kind: "calc";
  op: Operator;
  a: string;
  b: string;
}

/** The answer, or what CALC refuses (bad-args, div-by-zero) with its reply's words. */
export type CalcResult =
  | { kind: "calculated"; value: string }
  | { kind: "refused"; code: ErrorCode; message: string };

/** Runs a calc job (on a worker thread: lib/jobs/worker.ts). */
export function runCalcJob(job: CalcJob): CalcResult {
  try {
    return { kind: "calculated", value: evaluate(job.op, job.a, job.b) };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { kind: "refused", code: error.code, message: error.message };
  }
}
