/**
 * The threads rows (docs/performance.md#threads): S1 and S6 with
 * `--threads 2` against `--threads 1` in the same run, server and load
 * unpinned so that they share both cores; and 10,000 idle connections with
 * `--threads 2` against `--threads 1`. Ratios only: on a shared 2-core
 * machine the load generator takes a core's worth too, so 2 threads cannot
 * reach 2×; what the rows show is whether the second core is used at all.
 */
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import type { Load } from "../load.ts";
import { median } from "../measure.ts";
import { type BenchRow, count, mebibytes, type Row, times } from "../row.ts";
import { PING } from "../servers.ts";
import { CONNECTIONS, idleRss, QUICK_CONNECTIONS, RSS_TARGET } from "./idle.ts";

/** Requests a second, median of the run's repetitions, for `--threads threads`. */
async function throughput(
  context: BenchContext,
  id: string,
  load: Omit<Load, "request" | "expect" | "cpu">,
): Promise<Map<number, number>> {
  const rps = new Map<number, number[]>();
  for (let rep = 0; rep < context.options.reps; rep++) {
    // Interleaved, so that drift on a shared machine hits both alike.
    for (const threads of [1, 2]) {
      progress(`${id} --threads ${threads} (${rep + 1}/${context.options.reps})`);
      await using server = await startServer(context, "switchboard", {
        args: ["--threads", String(threads)],
        cpu: "unpinned",
      });
      const result = await runLoad(context, server, {
        ...load,
        ...PING.switchboard,
        cpu: "unpinned",
      });
      if (result.errors > 0) progress(`  ${result.errors} errors`);
      rps.set(threads, [...rps.get(threads) ?? [], result.rps]);
    }
  }
  return new Map([...rps].map(([threads, values]) => [threads, median(values)]));
}

/** A row of `scenario` with --threads 2 against --threads 1; met when the ratio reaches `target`. */
function scalingRow(
  id: string,
  scenario: string,
  load: Omit<Load, "request" | "expect" | "cpu">,
  target: number,
): BenchRow {
  const title = `${scenario}, --threads 2 vs 1, unpinned`;
  return {
    id,
    about: title,
    compares: false,
    async run(context: BenchContext): Promise<Row> {
      const rps = await throughput(context, id, load);
      const [one, two] = [rps.get(1)!, rps.get(2)!];
      return {
        scenario: title,
        switchboard: `${count(two)}/s with 2 threads`,
        deno: `${count(one)}/s with 1 thread`,
        node: "",
        ratio: `${times(two, one)} --threads 1`,
        target: `≥ ${target.toFixed(1)}× --threads 1`,
        met: two >= target * one,
      };
    },
  };
}

/** S1T: S1 (50 clients, one PING in flight each) with 2 network threads against 1. */
export const S1T = scalingRow("S1T", "S1: 50 persistent clients, PING", { connections: 50 }, 1.0);

/** S6T: S6 (50 clients, 16 in flight each) with 2 network threads against 1; target 1.5×. */
export const S6T = scalingRow(
  "S6T",
  "S6: 50 clients, 16 in flight each",
  { connections: 50, pipeline: 16 },
  1.5,
);

/** IDLET: 10,000 idle connections with --threads 2: the server's RSS, against --threads 1. */
export const IDLET: BenchRow = {
  id: "IDLET",
  about: `${count(CONNECTIONS)} idle connections, --threads 2: server RSS`,
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    const connections = context.options.quick ? QUICK_CONNECTIONS : CONNECTIONS;
    const two = await idleRss(context, "switchboard", connections, ["--threads", "2"]);
    const one = await idleRss(context, "switchboard", connections, ["--threads", "1"]);
    return {
      scenario: `${count(connections)} idle connections, --threads 2: server RSS`,
      switchboard: `${mebibytes(two)} with 2 threads`,
      deno: `${mebibytes(one)} with 1 thread`,
      node: "",
      ratio: `${times(two, one)} the RSS of --threads 1`,
      target: "< 200 MiB",
      met: two < RSS_TARGET,
    };
  },
};
