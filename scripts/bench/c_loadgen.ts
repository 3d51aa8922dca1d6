/**
 * The C load generator (../shared/bench/loadgen.c, or any build of it):
 * on 2 cores a Deno generator saturates before the server does, the C one
 * does not. Built here with the local C compiler into scripts/bench/build/
 * (git-ignored), or given already built. It reads the server's CPU itself
 * (--server-pid) and prints one `RESULT key=value …` line.
 */
import {
  type LoadGenerator,
  type LoadResult,
  type LoadTarget,
  type PlannedLoad,
  windowArgs,
} from "./load.ts";
import { type Machine, output, pinned, REPO_ROOT } from "./system.ts";

const BUILD_DIR = `${REPO_ROOT}/scripts/bench/build`;

/** Builds `source` with cc; the binary's path. Throws when it does not build. */
export async function buildLoadgen(source: string): Promise<string> {
  await Deno.mkdir(BUILD_DIR, { recursive: true });
  const binary = `${BUILD_DIR}/loadgen`;
  const built = await output("cc", ["-O2", "-pthread", "-o", binary, source]);
  if (!built.ok) throw new Error(`cannot build ${source} with cc`);
  return binary;
}

/** Runs loads with a built C loadgen. */
export class CLoadgen implements LoadGenerator {
  /** `binary` runs the loads; `label` names it in the table's header. */
  constructor(
    readonly binary: string,
    readonly label: string,
    readonly machine: Machine,
  ) {}

  /** Runs `load` against `server` and parses the RESULT line. */
  async run(server: LoadTarget, load: PlannedLoad): Promise<LoadResult> {
    if (load.tls) {
      throw new TypeError("the C loadgen does not speak TLS: use switchboard-client bench");
    }
    const { out } = await output(...pinned(this.machine, load.cpu, [this.binary, [
      "-p",
      String(server.port),
      ...windowArgs(load),
      "-r",
      `${load.request}\\n`,
      ...(load.expect ? ["-e", load.expect] : []),
      ...(load.pipeline ? ["--pipeline", String(load.pipeline)] : []),
      ...(load.churn ? ["--churn"] : []),
      ...(load.firstReply ? ["--first-reply-latency"] : []),
      "--server-pid",
      String(server.pid),
    ]]));
    const line = out.split("\n").find((l) => l.startsWith("RESULT "));
    if (!line) throw new Error(`loadgen printed no RESULT line:\n${out}`);
    const field = (name: string) => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1]);
    return {
      rps: field("rps"),
      cps: field("cps"),
      p50: field("p50_us"),
      p99: field("p99_us"),
      errors: field("errors"),
      replied: field("replied"),
      frP90: field("fr_p90_us"),
      frMax: field("fr_max_us"),
      serverCpu: field("srv_cpu"),
    };
  }
}
