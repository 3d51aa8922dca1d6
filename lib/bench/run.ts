/**
 * Running a `switchboard-client bench` load: the connections are shared out
 * over Web Worker threads (lib/bench/worker.ts) so that one event loop is
 * not the bottleneck, all threads start at the same moment, and their
 * counts and histograms are merged into one result.
 *
 * Semantics follow ../shared/bench/loadgen.c so the two can be compared:
 * only replies that arrive inside the window (after the warmup) count;
 * latency runs from a request's send to its reply line (in churn mode from
 * connect() to the reply); the first reply of each slot's first connection
 * is the admission latency.
 */
import process from "node:process";
import type { BenchOptions } from "./load_options.ts";
import type { BenchPart, BenchTask } from "./worker.ts";
import { Histogram } from "./histogram.ts";
import { loadCaCert } from "../client/credentials.ts";

/** Time the worker threads get to load before the load starts, when no --start-at is given. */
const WORKER_LOAD_MS = 200;
/** Count mode gives up this long after the window opens. */
const COUNT_MODE_LIMIT_MS = 600_000;
/** Error messages a result keeps for the report. */
const ERROR_SAMPLES = 5;

/** A finished run, merged over threads. */
export interface BenchResult {
  options: BenchOptions;
  /** Epoch ms where the measured window starts. */
  windowStart: number;
  /** Seconds the counted replies span. */
  windowS: number;
  requestsPerS: number;
  connectsPerS: number;
  counted: number;
  errors: number;
  errorSamples: string[];
  outstanding: number;
  replied: number;
  latency: Histogram;
  firstReply: Histogram;
  /** Cores of this process's CPU (all its threads) over the window. */
  clientCpu: number;
}

/**
 * Runs the load; `workerModule` is the file that re-enters as a bench
 * worker (the client entry). A `--cacert` that cannot be read is a LocalFileError.
 */
export async function runBench(options: BenchOptions, workerModule: URL): Promise<BenchResult> {
  const start = options.startAt ?? Date.now() + WORKER_LOAD_MS;
  const windowStart = start + options.warmupS * 1000;
  const windowEnd = options.requests === undefined
    ? windowStart + options.durationS * 1000
    : windowStart + COUNT_MODE_LIMIT_MS;
  // Read once here, not in every thread.
  const tls = options.tls
    ? { caCerts: options.caCert === undefined ? [] : [await loadCaCert(options.caCert)] }
    : undefined;
  const tasks: BenchTask[] = [];
  for (let i = 0; i < options.threads; i++) {
    const share = (total: number) =>
      Math.floor(total / options.threads) + (i < total % options.threads ? 1 : 0);
    tasks.push({
      host: options.host,
      port: options.port,
      connections: share(options.connections),
      request: options.request + "\n",
      expect: options.expect,
      pipeline: options.pipeline,
      churn: options.churn,
      requests: options.requests === undefined ? undefined : share(options.requests),
      startAt: start,
      windowStart,
      windowEnd,
      tls,
    });
  }
  const cpuAtStart = new Promise<number>((resolve) =>
    setTimeout(() => resolve(cpuSeconds()), Math.max(0, windowStart - Date.now()))
  );
  const parts = await Promise.all(tasks.map((task) => runInWorker(task, workerModule)));
  const ended = Date.now();
  const cpuUsed = cpuSeconds() - await cpuAtStart;

  const latency = new Histogram();
  const firstReply = new Histogram();
  let counted = 0, errors = 0, outstanding = 0, replied = 0, connects = 0, lastReplyAt = 0;
  const errorSamples: string[] = [];
  for (const part of parts) {
    latency.merge(new Histogram(part.latency));
    firstReply.merge(new Histogram(part.firstReply));
    counted += part.counted;
    errors += part.errors;
    outstanding += part.outstanding;
    replied += part.replied;
    connects += part.connects;
    lastReplyAt = Math.max(lastReplyAt, part.lastReplyAt);
    errorSamples.push(...part.errorSamples);
  }
  const measuredEnd = options.requests === undefined ? windowEnd : (lastReplyAt || ended);
  const windowS = Math.max(1e-3, (Math.min(measuredEnd, ended) - windowStart) / 1000);
  const wallS = Math.max(1e-3, (ended - windowStart) / 1000);
  return {
    options,
    windowStart,
    windowS,
    requestsPerS: counted / windowS,
    connectsPerS: options.churn ? counted / windowS : connects / wallS,
    counted,
    errors,
    errorSamples: errorSamples.slice(0, ERROR_SAMPLES),
    outstanding,
    replied,
    latency,
    firstReply,
    clientCpu: cpuUsed / wallS,
  };
}

function runInWorker(task: BenchTask, workerModule: URL): Promise<BenchPart> {
  const worker = new Worker(workerModule, { type: "module" });
  return new Promise<BenchPart>((resolve, reject) => {
    worker.onmessage = (
      event: MessageEvent<{ ok: true; part: BenchPart } | { ok: false; error: string }>,
    ) => {
      worker.terminate();
      if (event.data.ok) resolve(event.data.part);
      else reject(new Error(`bench thread failed: ${event.data.error}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new Error(`bench thread failed: ${event.message}`));
    };
    worker.postMessage(task);
  });
}

/** user + system CPU seconds of this process, all threads. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
