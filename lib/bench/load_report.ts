/**
 * What `switchboard-client bench` prints about a finished run: the human
 * report (durations as loadgen prints them) and the JSON object that
 * scripts such as `deno task bench` read.
 */
import type { BenchResult } from "./run.ts";
import { Histogram, PERCENTILES } from "./histogram.ts";

/** Above this many µs a duration prints in ms. */
const MS_ABOVE_US = 10_000;

/** Microseconds with a thousands separator, or ms above 10 ms, as loadgen prints them. */
function formatDuration(ns: number): string {
  const us = ns / 1000;
  if (us >= MS_ABOVE_US) {
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
