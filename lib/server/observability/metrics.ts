/**
 * Prometheus metrics (docs/observability.md, `--metrics-port`): the STATS counters, the
 * Manager's gauges, and a request-duration histogram per command, served
 * over HTTP at `/metrics` (metrics_endpoint.ts), with `/healthz` for probes.
 *
 * The request path pays only for the histogram: two `performance.now()`
 * calls and a few integer increments per request, and nothing at all when
 * `--metrics-port` is off. The text is built only when someone scrapes.
 */
import type { PoolStats } from "../../jobs/pool.ts";
import type { Stats } from "./stats.ts";

/** What the metrics read of the server. */
export interface MetricsSource {
  readonly stats: Stats;
  readonly maxRunning: number;
  running(): number;
  queued(): number;
  readonly workers: { stats(): PoolStats };
  readonly hashes: { readonly computedTotal: number };
}

/** Upper bounds (seconds) of the duration buckets: 100 µs to 10 s, roughly ×2.5 apart. */
export const DURATION_BUCKETS_S = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
] as const;

/** One command's histogram as read: counts[i] for bucket i ({@linkcode DURATION_BUCKETS_S}, then +Inf). */
export interface DurationSeries {
  readonly counts: Float64Array;
  readonly sum: number;
  readonly count: number;
}

/** Cumulative-on-render histogram of one command: per-bucket counts, sum and count. */
class Series implements DurationSeries {
  /** counts[i] is observations in (bound[i-1], bound[i]]; the last slot is +Inf. */
  readonly counts = new Float64Array(DURATION_BUCKETS_S.length + 1);
  sum = 0;
  count = 0;
}

/** `switchboard_request_duration_seconds`, labelled by command. */
export class RequestDurations {
  readonly #series = new Map<string, Series>();

  /**
   * Records one request. `command` must come from the command table (or be
   * a fixed word such as `unknown`), never raw client input: every distinct
   * label is a time series kept forever.
   */
  observe(command: string, seconds: number): void {
    let series = this.#series.get(command);
    if (series === undefined) this.#series.set(command, series = new Series());
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_S.length && seconds > DURATION_BUCKETS_S[bucket]!) bucket++;
    series.counts[bucket]!++;
    series.sum += seconds;
    series.count++;
  }

  /** Each command's series as recorded (per-bucket counts, not cumulative), commands in name order. */
  *series(): Generator<[command: string, series: DurationSeries]> {
    for (const command of [...this.#series.keys()].sort()) {
      yield [command, this.#series.get(command)!];
    }
  }

  /** The histogram in the text exposition format, commands in name order. */
  *render(name: string): Generator<string> {
    for (const command of [...this.#series.keys()].sort()) {
      const series = this.#series.get(command)!;
      const label = `command="${escapeLabel(command)}"`;
      let cumulative = 0;
      for (const [index, bound] of DURATION_BUCKETS_S.entries()) {
        cumulative += series.counts[index]!;
        yield `${name}_bucket{${label},le="${bound}"} ${cumulative}`;
      }
      yield `${name}_bucket{${label},le="+Inf"} ${series.count}`;
      yield `${name}_sum{${label}} ${series.sum}`;
      yield `${name}_count{${label}} ${series.count}`;
    }
  }
}

interface Family {
  name: string;
  type: "counter" | "gauge";
  help: string;
  value: (server: MetricsSource) => number;
}

/** Every plain metric: the Manager's gauges and the STATS counters (docs/protocol.md#commands) under Prometheus names. */
const FAMILIES: readonly Family[] = [
  {
    name: "running",
    type: "gauge",
    help: "Client handlers running now.",
    value: (s) => s.running(),
  },
  {
    name: "queued",
    type: "gauge",
    help: "Connections waiting for a slot.",
    value: (s) => s.queued(),
  },
  {
    name: "max_running",
    type: "gauge",
    help: "Handlers allowed to run at once (--max-running).",
    value: (s) => s.maxRunning,
  },
  {
    name: "uptime_seconds",
    type: "gauge",
    help: "Seconds since the server started.",
    value: (s) => s.stats.uptimeSeconds,
  },
  {
    name: "accepted_total",
    type: "counter",
    help: "Connections accepted.",
    value: (s) => s.stats.accepted_total,
  },
  {
    name: "served_total",
    type: "counter",
    help: "Connections that ran and closed.",
    value: (s) => s.stats.served_total,
  },
  {
    name: "rejected_total",
    type: "counter",
    help: "Connections refused (busy, per-address limit, shutdown).",
    value: (s) => s.stats.rejected_total,
  },
  {
    name: "timeouts_total",
    type: "counter",
    help:
      "Connections closed by a timeout: queue, idle, request line, slow or silent transfer, stalled write.",
    value: (s) => s.stats.timeouts_total,
  },
  {
    name: "commands_total",
    type: "counter",
    help: "Request lines answered.",
    value: (s) => s.stats.commands_total,
  },
  {
    name: "bytes_in_total",
    type: "counter",
    help: "Bytes received from clients.",
    value: (s) => s.stats.bytes_in,
  },
  {
    name: "bytes_out_total",
    type: "counter",
    help: "Bytes sent to clients.",
    value: (s) => s.stats.bytes_out,
  },
  {
    name: "denied_total",
    type: "counter",
    help: "Connections turned away by --allow/--deny or protected mode.",
    value: (s) => s.stats.denied_total,
  },
  {
    name: "auth_failures_total",
    type: "counter",
    help: "AUTH requests denied: wrong name or password, or too many failures.",
    value: (s) => s.stats.auth_failures_total,
  },
  {
    name: "tls_failures_total",
    type: "counter",
    help: "TLS handshakes that failed, timed out or were dropped.",
    value: (s) => s.stats.tls_failures_total,
  },
  {
    name: "proxy_errors_total",
    type: "counter",
    help:
      "Connections from --proxy-protocol addresses closed for a missing, malformed or late header.",
    value: (s) => s.stats.proxy_errors_total,
  },
  {
    name: "workers",
    type: "gauge",
    help: "Worker threads for COUNT jobs and file hashes.",
    value: (s) => s.workers.stats().workers,
  },
  {
    name: "jobs_total",
    type: "counter",
    help: "Worker jobs finished (COUNT increments and file hashes).",
    value: (s) => s.workers.stats().jobs_total,
  },
  {
    name: "jobs_running",
    type: "gauge",
    help: "Worker jobs running now.",
    value: (s) => s.workers.stats().jobs_running,
  },
  {
    name: "jobs_queued",
    type: "gauge",
    help: "Worker jobs waiting for a worker.",
    value: (s) => s.workers.stats().jobs_queued,
  },
  {
    name: "hashes_total",
    type: "counter",
    help:
      "Files hashed for FILE GET on the worker threads (cache hits and shared hashes add none).",
    value: (s) => s.hashes.computedTotal,
  },
];

const PREFIX = "switchboard_";
const DURATION = `${PREFIX}request_duration_seconds`;

/** The whole `/metrics` body in Prometheus text format 0.0.4. */
export function renderMetrics(server: MetricsSource, durations: RequestDurations): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    const name = PREFIX + family.name;
    lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
    lines.push(`${name} ${family.value(server)}`);
  }
  lines.push(
    `# HELP ${DURATION} Time from a request line to its reply being ready, by command.`,
    `# TYPE ${DURATION} histogram`,
    ...durations.render(DURATION),
  );
  return lines.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}
