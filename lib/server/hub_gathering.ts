/**
 * What the hub (hub.ts) gathers from every network thread: WHO's
 * connections, STATS's counters, `/metrics`, and the live page's samples
 * (docs/observability.md). Each thread keeps its own counters and its own
 * connections — no counter that every request touches is shared between
 * threads — and answers when asked (remote_services.ts); the hub adds the
 * answers up with what is its own (the job pool, the hash cache, AUTH
 * failures) and the Manager's shared gauges.
 */
import type { SessionEntry } from "../commands/command.ts";
import type { SharedAdmission } from "./admission/shared_admission.ts";
import type { ServerConfig } from "./config.ts";
import { type LiveSample, sampleServer } from "./observability/live_sample.ts";
import { type MetricsSource, RequestDurations } from "./observability/metrics.ts";
import { Stats } from "./observability/stats.ts";
import type { ServerServices } from "./services.ts";
import type { LiveEntry, ThreadSnapshot } from "./thread_messages.ts";

/** A network thread as the gathering asks it. */
export interface GatheredThread {
  gather(what: "sessions"): Promise<SessionEntry[]>;
  gather(what: "snapshot"): Promise<ThreadSnapshot>;
  gather(what: "live"): Promise<LiveEntry[]>;
}

/** Options of {@linkcode Gathering}. */
export interface GatheringOptions {
  config: ServerConfig;
  /** The network threads, as they are started. */
  threads: readonly GatheredThread[];
  admission: SharedAdmission;
  services: ServerServices;
  /** The hub's own counters: its start time, and the AUTH failures counted where AUTH runs. */
  stats: Stats;
}

/** The server-wide views of WHO, STATS, `/metrics` and the live page. */
export class Gathering {
  readonly #o: GatheringOptions;

  constructor(options: GatheringOptions) {
    this.#o = options;
  }

  /** WHO: every thread's running connections, then every queued one, each in id order. */
  async sessions(): Promise<SessionEntry[]> {
    const all = (await Promise.all(this.#o.threads.map((t) => t.gather("sessions")))).flat();
    const byId = (a: SessionEntry, b: SessionEntry) => a.session.id - b.session.id;
    const running = all.filter((entry) => entry.state === "running").sort(byId);
    return [...running, ...all.filter((entry) => entry.state === "queued").sort(byId)];
  }

  /** STATS's lines, in docs/protocol.md#stats order, for the whole server. */
  async counters(): Promise<Array<[string, number]>> {
    const { config, admission, services } = this.#o;
    const s = this.#totals(await this.#snapshots());
    const pool = services.workers.stats();
    return [
      ["uptime_s", s.uptimeSeconds],
      ["max_running", config.maxRunning],
      ["running", admission.running],
      ["queued", admission.queued],
      ["accepted_total", s.accepted_total],
      ["served_total", s.served_total],
      ["rejected_total", s.rejected_total],
      ["timeouts_total", s.timeouts_total],
      ["commands_total", s.commands_total],
      ["bytes_in", s.bytes_in],
      ["bytes_out", s.bytes_out],
      ["workers", pool.workers],
      ["threads", config.threads],
      ["jobs_total", pool.jobs_total],
      ["jobs_running", pool.jobs_running],
      ["jobs_queued", pool.jobs_queued],
      ["hashes_total", services.hashes.computedTotal],
      ["denied_total", s.denied_total],
      ["auth_failures_total", s.auth_failures_total],
      ["tls_failures_total", s.tls_failures_total],
      ["proxy_errors_total", s.proxy_errors_total],
    ];
  }

  /** What `/metrics` renders: the summed counters and request durations. */
  async metrics(): Promise<{ server: MetricsSource; durations: RequestDurations }> {
    const { config, admission, services } = this.#o;
    const all = await this.#snapshots();
    const durations = new RequestDurations();
    for (const snapshot of all) durations.add(snapshot.durations);
    return {
      durations,
      server: {
        stats: this.#totals(all),
        maxRunning: config.maxRunning,
        threads: config.threads,
        running: () => admission.running,
        queued: () => admission.queued,
        workers: services.workers,
        hashes: services.hashes,
      },
    };
  }

  /** One sample for the live page: every thread's connections, the server's counters and latencies. */
  async liveSample(): Promise<LiveSample> {
    const [live, counters, { durations }] = await Promise.all([
      Promise.all(this.#o.threads.map((thread) => thread.gather("live"))),
      this.counters(),
      this.metrics(),
    ]);
    const { admission } = this.#o;
    const source = {
      maxRunning: this.#o.config.maxRunning,
      connections: () => liveConnections(live.flat()),
      totals: () => ({ running: admission.running, queued: admission.queued }),
      counters: () => counters,
      durations,
    };
    return sampleServer(source, this.#o.stats.startedAt);
  }

  /** Every thread's counters and durations (the drain's last line reads served_total from them). */
  async served(): Promise<number> {
    return this.#totals(await this.#snapshots()).served_total;
  }

  #snapshots(): Promise<ThreadSnapshot[]> {
    return Promise.all(this.#o.threads.map((thread) => thread.gather("snapshot")));
  }

  #totals(all: ThreadSnapshot[]): Stats {
    const total = new Stats(this.#o.stats.startedAt);
    for (const { stats } of all) total.add(stats);
    total.auth_failures_total += this.#o.stats.auth_failures_total;
    return total;
  }
}

/**
 * Every thread's connections as the live page's sampler reads them: running
 * ones first, then the queue, each in id order, their times moved from Unix
 * milliseconds to this thread's `performance.now()`.
 */
function liveConnections(entries: LiveEntry[]): LiveEntry[] {
  const origin = performance.timeOrigin;
  const byId = (a: LiveEntry, b: LiveEntry) => a.handler.id - b.handler.id;
  const local = entries.map(({ handler, state }) => ({
    state,
    handler: {
      ...handler,
      stateSince: handler.stateSince - origin,
      activity: { ...handler.activity, currentSince: handler.activity.currentSince - origin },
    },
  }));
  return [
    ...local.filter((entry) => entry.state === "running").sort(byId),
    ...local.filter((entry) => entry.state === "queued").sort(byId),
  ];
}
