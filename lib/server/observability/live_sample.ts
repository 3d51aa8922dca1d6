/**
 * One sample of the server for the live page (docs/observability.md#live-view): the
 * running set and the queue in order, a row per connection, the STATS
 * counters, and request latency percentiles per command. Gathered by one
 * function, {@linkcode sampleServer}, from a {@linkcode LiveSource}, so that
 * a server of several threads can hand it the whole server's numbers.
 *
 * Taken on a timer while someone watches (live_stream.ts), never per
 * request: the protocol port pays only for a few fields its handlers set
 * anyway (dispatch.ts `CommandActivity`).
 */
import type { CommandActivity } from "../connection/dispatch.ts";
import { DURATION_BUCKETS_S, type RequestDurations } from "./metrics.ts";

/**
 * Connection rows in one sample, running ones first: beyond it the totals
 * still count every connection, but 10,000 queued clients do not make
 * every sample a megabyte.
 */
export const MAX_ROWS = 500;

/** A connection as the sampler reads it (ClientHandler). */
export interface LiveConnection {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly identity: { readonly name: string } | undefined;
  /** `performance.now()` when it was queued or started. */
  readonly stateSince: number;
  readonly activity: CommandActivity;
}

/** What {@linkcode sampleServer} reads. */
export interface LiveSource {
  readonly maxRunning: number;
  /** Running connections first, then the queue in FIFO order. */
  connections(): Iterable<{ handler: LiveConnection; state: "running" | "queued" }>;
  /**
   * How many run and wait, when {@linkcode connections} may hold fewer
   * (a network thread sends the hub no more rows than a sample shows);
   * without it, the connections are counted.
   */
  totals?(): { running: number; queued: number };
  /** The STATS lines as `[key, integer]` (docs/protocol.md#commands). */
  counters(): Iterable<[string, number]>;
  readonly durations: RequestDurations | undefined;
}

/** One row of the connection table. */
export interface ConnectionRow {
  id: number;
  address: string;
  port: number;
  state: "running" | "queued";
  /** The HELLO name, or null before HELLO. */
  name: string | null;
  /** Milliseconds in this state (queued: the wait so far). */
  stateMs: number;
  /** The command being answered now, or null between requests. */
  command: string | null;
  /** Milliseconds since that command began (0 when there is none). */
  commandMs: number;
  /** The last command answered, or null before the first. */
  last: string | null;
}

/** Latency of one command since the server started, from the request-duration histogram. */
export interface LatencyRow {
  command: string;
  count: number;
  /**
   * Requests per bucket of {@linkcode LiveSample.bucketsMs} (not cumulative; the last is
   * past 10 s): the page subtracts an older sample's to get percentiles of the last seconds.
   */
  counts: number[];
  /** Upper bounds in milliseconds of the bucket each percentile falls in; null past the last bound (10 s). */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  /** Mean, exact (sum / count). */
  meanMs: number;
}

/** Everything the page shows at one moment. */
export interface LiveSample {
  /** Unix milliseconds when taken. */
  at: number;
  /** Unix milliseconds when the server started: a new value means it restarted. */
  startedAt: number;
  maxRunning: number;
  running: number;
  queued: number;
  /** Connection rows: running first, then the queue in order; at most {@linkcode MAX_ROWS}. */
  connections: ConnectionRow[];
  counters: Record<string, number>;
  /** Upper bounds (ms) of the histogram's buckets, as /metrics has them. */
  bucketsMs: number[];
  latency: LatencyRow[];
}

const BUCKETS_MS = DURATION_BUCKETS_S.map((bound) => bound * 1000);

/** Samples `source` now. */
export function sampleServer(source: LiveSource, startedAt: number): LiveSample {
  const now = performance.now();
  const connections: ConnectionRow[] = [];
  let running = 0;
  let queued = 0;
  for (const { handler, state } of source.connections()) {
    if (state === "running") running++;
    else queued++;
    if (connections.length >= MAX_ROWS) continue;
    const { current, currentSince, last } = handler.activity;
    connections.push({
      id: handler.id,
      address: handler.address,
      port: handler.port,
      state,
      name: handler.identity?.name ?? null,
      stateMs: Math.max(0, Math.round(now - handler.stateSince)),
      command: current ?? null,
      commandMs: current === undefined ? 0 : Math.max(0, Math.round(now - currentSince)),
      last: last ?? null,
    });
  }
  const totals = source.totals?.() ?? { running, queued };
  return {
    at: Date.now(),
    startedAt,
    maxRunning: source.maxRunning,
    running: totals.running,
    queued: totals.queued,
    connections,
    counters: Object.fromEntries(source.counters()),
    bucketsMs: BUCKETS_MS,
    latency: source.durations === undefined ? [] : latencyRows(source.durations),
  };
}

/** A row per command seen, in name order. */
function latencyRows(durations: RequestDurations): LatencyRow[] {
  const rows: LatencyRow[] = [];
  for (const [command, series] of durations.series()) {
    if (series.count === 0) continue;
    rows.push({
      command,
      count: series.count,
      counts: Array.from(series.counts),
      p50: bucketBoundMs(series.counts, series.count, 0.5),
      p90: bucketBoundMs(series.counts, series.count, 0.9),
      p99: bucketBoundMs(series.counts, series.count, 0.99),
      meanMs: series.sum / series.count * 1000,
    });
  }
  return rows;
}

/**
 * The upper bound (ms) of the bucket holding quantile `q`: an honest "at
 * most", where interpolating inside a bucket would invent precision the
 * histogram does not have. Null when it falls past the last bound.
 */
export function bucketBoundMs(counts: ArrayLike<number>, total: number, q: number): number | null {
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < DURATION_BUCKETS_S.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return DURATION_BUCKETS_S[i]! * 1000;
  }
  return null;
}
