/**
 * A load, in the words both load generators understand, and what it
 * measured. The generators (c_loadgen.ts, deno_loadgen.ts) implement
 * LoadGenerator; loadgen.ts picks one per run.
 */
import type { Cpu } from "./system.ts";
import type { BenchServer } from "./servers.ts";

/** The CPU loads run on where the machine pins (servers take CPU 0). */
export const LOAD_CPU = 1;
/** Seconds of load before the measured window, unless a row says otherwise. */
export const WARMUP_S = 1;

/** One load, in the words both generators understand. */
export interface Load {
  connections: number;
  /** Requests in flight per connection (default 1). */
  pipeline?: number;
  /** One request per connection: connect, send, reply, close. */
  churn?: boolean;
  /** Seconds measured after the warmup (default: the run's --quick or full window). */
  durationS?: number;
  /** Seconds of load before the window (default WARMUP_S). */
  warmupS?: number;
  request: string;
  expect: string;
  /** Measure connect → first reply of every connection. */
  firstReply?: boolean;
  /** CPU for the generator (default LOAD_CPU). */
  cpu?: Cpu;
  /** Connect with TLS, trusting this CA file (only `switchboard-client bench` speaks TLS). */
  tls?: { caCertPath: string };
}

/** A load with its window and CPU decided: what a generator runs. */
export interface PlannedLoad extends Load {
  durationS: number;
  warmupS: number;
  cpu: Cpu;
}

/** What a load measured; durations in µs. */
export interface LoadResult {
  rps: number;
  cps: number;
  p50: number;
  p99: number;
  errors: number;
  replied: number;
  frP90: number;
  frMax: number;
  /** Server CPU cores over the window. */
  serverCpu: number;
}

/**
 * Where a load goes: the port it connects to, and the process whose CPU
 * time is read over the window (a BenchServer, or a balancer in front of
 * servers).
 */
export type LoadTarget = Pick<BenchServer, "port" | "pid">;

/** A program that puts a load on a server and reports what it measured. */
export interface LoadGenerator {
  /** How the table's header names it. */
  readonly label: string;
  /** Runs `load` against `server`. */
  run(server: LoadTarget, load: PlannedLoad): Promise<LoadResult>;
}

/** `-c N -d S -w S`: both generators spell connections, duration and warmup the same way. */
export function windowArgs(load: PlannedLoad): string[] {
  return ["-c", String(load.connections), "-d", String(load.durationS), "-w", String(load.warmupS)];
}

/** `load` with the defaults of a run whose windows last `durationS`. */
export function planLoad(load: Load, durationS: number): PlannedLoad {
  return {
    ...load,
    durationS: load.durationS ?? durationS,
    warmupS: load.warmupS ?? WARMUP_S,
    cpu: load.cpu ?? LOAD_CPU,
  };
}
