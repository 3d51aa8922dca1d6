/**
 * The Deno load generator: `switchboard-client bench` (lib/bench/) as a
 * process of its own, started a second ahead of its load so that the
 * server's CPU can be read over exactly its measured window.
 */
import { delay } from "@std/async/delay";
import {
  type LoadGenerator,
  type LoadResult,
  type LoadTarget,
  type PlannedLoad,
  windowArgs,
} from "./load.ts";
import {
  cpuSeconds,
  DENO,
  type Machine,
  output,
  pinned,
  REPO_ROOT,
  RUN_AS_CLIENT,
} from "./system.ts";

/** How far ahead of its load the generator is started: time for Deno and its threads to load. */
const START_AHEAD_MS = 1000;

/** Runs loads with `switchboard-client bench --json`. */
export class DenoLoadgen implements LoadGenerator {
  /** How the table's header names this generator. */
  readonly label = "switchboard-client bench";

  /** `machine` decides pinning and threads. */
  constructor(readonly machine: Machine) {}

  /** Runs `load` against `server`; the server's CPU is read around the generator's window. */
  async run(server: LoadTarget, load: PlannedLoad): Promise<LoadResult> {
    const startAt = Date.now() + START_AHEAD_MS;
    // A pinned generator has one CPU: more threads than that only take turns.
    const threads = this.machine.pinned && load.cpu !== "unpinned" ? 1 : this.machine.cpus;
    const command = pinned(this.machine, load.cpu, [DENO, [
      ...RUN_AS_CLIENT,
      `${REPO_ROOT}/client.ts`,
      "--port",
      String(server.port),
      "bench",
      ...windowArgs(load),
      "-t",
      String(threads),
      "-e",
      load.expect,
      ...(load.pipeline ? ["-P", String(load.pipeline)] : []),
      ...(load.churn ? ["--churn"] : []),
      ...(load.tls ? ["--tls", "--cacert", load.tls.caCertPath] : []),
      "--start-at",
      String(startAt),
      "--json",
      load.request,
    ]]);
    // Server CPU over exactly the generator's window.
    const windowStart = startAt + load.warmupS * 1000;
    const cpuAt = (at: number) =>
      delay(Math.max(0, at - Date.now())).then(() => cpuSeconds(server.pid));
    const cpuStart = cpuAt(windowStart);
    const cpuEnd = cpuAt(windowStart + load.durationS * 1000);
    const { out } = await output(...command);
    const serverCpu = (await cpuEnd - await cpuStart) / load.durationS;
    let json;
    try {
      json = JSON.parse(out.trim().split("\n").at(-1) ?? "");
    } catch {
      throw new Error(`switchboard-client bench printed no JSON:\n${out}`);
    }
    return {
      rps: json.rps,
      cps: json.cps,
      p50: json.latency.p50_us,
      p99: json.latency.p99_us,
      errors: json.errors,
      replied: json.replied,
      frP90: json.first_reply.p90_us,
      frMax: json.first_reply.max_us,
      serverCpu,
    };
  }
}
