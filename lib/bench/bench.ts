/**
 * `switchboard-client bench`: a load generator in the spirit of
 * redis-benchmark (issue 7, SPEC §10). Connections are spread over Web
 * Worker threads (lib/bench_worker.ts) so that one event loop is not the
 * bottleneck; the threads' histograms are merged here and reported as
 * requests/s and latency percentiles.
 *
 * Semantics follow ../shared/bench/loadgen.c so the two can be compared:
 * only replies that arrive inside the window (after the warmup) count;
 * latency runs from a request's send to its reply line (in churn mode from
 * connect() to the reply); the first reply of each slot's first connection
 * is the admission latency.
 */
import { parseArgs } from "@std/cli/parse-args";
import type { BenchPart, BenchTask } from "./worker.ts";
import { DEFAULT_HOST, DEFAULT_PORT } from "../defaults.ts";
import { Histogram, PERCENTILES } from "./histogram.ts";
import process from "node:process";
import { UsageError } from "../usage_error.ts";

/** Everything a bench run needs. */
export interface BenchOptions {
  host: string;
  port: number;
  connections: number;
  /** Count mode: send exactly this many requests. */
  requests: number | undefined;
  /** Duration mode: seconds measured after the warmup. */
  durationS: number;
  warmupS: number;
  pipeline: number;
  churn: boolean;
  threads: number;
  /** The request line without its line feed. */
  request: string;
  /** Expected reply line; empty: any. */
  expect: string;
  /** Epoch ms at which the load starts (to line several generators or a CPU probe up); default: now. */
  startAt: number | undefined;
  json: boolean;
}

export const BENCH_USAGE = `usage: switchboard-client bench [options] [REQUEST LINE...]

Load generator: sends REQUEST LINE (default PING) over many connections and
reports requests/s and latency percentiles (p50 p90 p99 p99.9 max).

options:
  -c, --connections N   concurrent connections (default 50)
  -n, --requests N      send exactly N requests in all, then stop
  -d, --duration S      seconds to measure, after the warmup (default 10)
  -w, --warmup S        seconds before measuring starts (default 1; 0 with -n)
  -P, --pipeline N      requests in flight per connection (default 1)
      --churn           one request per connection: connect, send, reply, close
  -t, --threads N       worker threads (default: CPU count, at most one per connection)
  -e, --expect LINE     fail a reply that is not LINE (default: OK PONG for PING, else any)
      --start-at MS     start the load at this Unix time in ms (lines up several generators)
      --host H, --port P, --json   as for every command`;

/** Parses the words after `bench`. */
export function parseBenchArgs(args: readonly string[]): BenchOptions {
  const unknown: string[] = [];
  const parsed = parseArgs([...args], {
    string: [
      "connections",
      "requests",
      "duration",
      "warmup",
      "pipeline",
      "threads",
      "expect",
      "start-at",
      "host",
      "port",
    ],
    boolean: ["churn", "json"],
    alias: {
      c: "connections",
      n: "requests",
      d: "duration",
      w: "warmup",
      P: "pipeline",
      t: "threads",
      e: "expect",
    },
    "--": false,
    unknown: (arg: string) => {
      if (arg.startsWith("-") && !/^-\d/.test(arg)) unknown.push(arg);
      return !arg.startsWith("-");
    },
  }) as Record<string, string | boolean | undefined> & { _: Array<string | number> };
  if (unknown.length > 0) throw new UsageError(`unknown bench option ${unknown[0]}`);
  const str = (name: string) => {
    const value = parsed[name];
    return typeof value === "string" ? value : undefined;
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const value = str(name);
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) {
      throw new UsageError(`--${name} must be an integer from ${min} to ${max}: "${value}"`);
    }
    return n;
  };
  const seconds = (name: string, fallback: number) => {
    const value = str(name);
    if (value === undefined) return fallback;
    const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!(n >= 0 && n <= 86_400)) {
      throw new UsageError(`--${name} must be seconds from 0 to 86400: "${value}"`);
    }
    return n;
  };
  const requestWords = parsed._.map(String);
  const request = requestWords.length > 0 ? requestWords.join(" ") : "PING";
  const connections = int("connections", 50, 1, 100_000);
  const requests = str("requests") === undefined ? undefined : int("requests", 0, 1, 1e12);
  const churn = parsed.churn === true;
  const pipeline = int("pipeline", 1, 1, 4096);
  if (churn && pipeline > 1) throw new UsageError("--churn sends one request: no --pipeline");
  const cpus = navigator.hardwareConcurrency || 1;
  const expect = str("expect") ?? (request.trim().toUpperCase() === "PING" ? "OK PONG" : "");
  return {
    host: str("host") ?? DEFAULT_HOST,
    port: int("port", DEFAULT_PORT, 1, 65535),
    connections,
    requests,
    durationS: seconds("duration", 10),
    warmupS: seconds("warmup", requests === undefined ? 1 : 0),
    pipeline,
    churn,
    threads: Math.min(int("threads", cpus, 1, 256), connections),
    request,
    expect,
    startAt: str("start-at") === undefined ? undefined : int("start-at", 0, 0, 2 ** 53),
    json: parsed.json === true,
  };
}

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

/** Runs the load; `workerModule` is the file that re-enters as a bench worker (the client entry). */
export async function runBench(options: BenchOptions, workerModule: URL): Promise<BenchResult> {
  const start = options.startAt ?? Date.now() + 200; // time for the workers to load
  const windowStart = start + options.warmupS * 1000;
  const windowEnd = options.requests === undefined
    ? windowStart + options.durationS * 1000
    : windowStart + 600_000; // count mode gives up after 10 minutes
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
    errorSamples: errorSamples.slice(0, 5),
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

/** Microseconds with a thousands separator, or ms above 10 ms, as loadgen prints them. */
function formatDuration(ns: number): string {
  const us = ns / 1000;
  if (us >= 10_000) {
    return `${(us / 1000).toLocaleString("en-US", { maximumFractionDigits: 1 })} ms`;
  }
  return `${Math.round(us).toLocaleString("en-US")} µs`;
}

function percentiles(h: Histogram): string {
  const parts = PERCENTILES.map((q) => `p${q * 100} ${formatDuration(h.quantile(q))}`);
  return [...parts, `max ${formatDuration(h.max)}`].join("  ");
}

/** The result as JSON: numbers only (durations in µs), for scripts such as `deno task bench`. */
export function benchJson(result: BenchResult): Record<string, unknown> {
  const us = (ns: number) => Math.round(ns / 100) / 10;
  const dist = (h: Histogram) => ({
    p50_us: us(h.quantile(0.5)),
    p90_us: us(h.quantile(0.9)),
    p99_us: us(h.quantile(0.99)),
    p999_us: us(h.quantile(0.999)),
    max_us: us(h.max),
  });
  return {
    request: result.options.request,
    connections: result.options.connections,
    pipeline: result.options.pipeline,
    churn: result.options.churn,
    threads: result.options.threads,
    window_start_ms: result.windowStart,
    window_s: result.windowS,
    rps: result.requestsPerS,
    cps: result.connectsPerS,
    requests: result.counted,
    errors: result.errors,
    error_samples: result.errorSamples,
    outstanding: result.outstanding,
    replied: result.replied,
    latency: dist(result.latency),
    first_reply: dist(result.firstReply),
    client_cpu: result.clientCpu,
  };
}

/** The human report. */
export function benchReport(result: BenchResult): string {
  const o = result.options;
  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  const mode = o.churn ? "churn (one request per connection)" : `pipeline ${o.pipeline}`;
  const span = o.requests === undefined
    ? `${o.warmupS} s warmup + ${o.durationS} s`
    : `${n(o.requests)} requests`;
  const lines = [
    `bench ${o.host}:${o.port} "${o.request}": ${o.connections} connections, ${mode}, ${o.threads} threads, ${span}`,
    `requests/s   ${n(result.requestsPerS)}  (${n(result.counted)} replies in ${
      result.windowS.toFixed(2)
    } s, ` +
    `${result.errors} errors, ${result.outstanding} outstanding)`,
    `latency      ${percentiles(result.latency)}`,
    `first reply  ${
      percentiles(result.firstReply)
    }  (${result.replied}/${o.connections} connections replied)`,
  ];
  if (o.churn) lines.push(`connects/s   ${n(result.connectsPerS)}`);
  lines.push(`client cpu   ${result.clientCpu.toFixed(2)} cores (the load generator itself)`);
  for (const sample of result.errorSamples) lines.push(`error        ${sample}`);
  return lines.join("\n");
}
