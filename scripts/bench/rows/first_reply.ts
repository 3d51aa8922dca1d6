/**
 * S4 (docs/performance.md): 1000 fresh connections at once with --max-running 1000;
 * how long each waits for its first reply, and whether all are answered.
 */
import type { BenchContext } from "../context.ts";
import type { LoadResult } from "../load.ts";
import { acrossServers } from "../measure.ts";
import { type BenchRow, millis, type Row, times } from "../row.ts";

const CONNECTIONS = 1000;
/** The target's p90 of the first reply, in µs. */
const P90_TARGET_US = 100_000;

/** S4: 1000 fresh connections, first reply. */
export const S4: BenchRow = {
  id: "S4",
  about: `${CONNECTIONS} fresh connections, first reply`,
  compares: true,
  async run(context: BenchContext): Promise<Row> {
    const results = await acrossServers(
      context,
      "S4",
      // Two seconds of warmup: Deno's echo takes that long to accept them all.
      { connections: CONNECTIONS, firstReply: true, warmupS: 2 },
      { reps: 1, compares: true, serverArgs: ["--max-running", String(CONNECTIONS)] },
    );
    const text = (r: LoadResult[] | undefined) =>
      r
        ? `p90 ${millis(r[0]!.frP90)}, max ${millis(r[0]!.frMax)}, ${r[0]!.replied}/${CONNECTIONS}`
        : "n/a";
    const sb = results.get("switchboard")![0]!;
    const deno = results.get("deno")![0]!;
    const compare = results.get("compare")?.[0];
    return {
      scenario: `S4: ${CONNECTIONS} fresh connections, first reply`,
      switchboard: text(results.get("switchboard")),
      compare: compare && {
        result: text(results.get("compare")),
        ratio: `p90 ${times(compare.frP90, sb.frP90)} faster`,
      },
      deno: text(results.get("deno")),
      node: text(results.get("node")),
      ratio: `p90 ${times(deno.frP90, sb.frP90)} faster than Deno`,
      target: "all answered, p90 < 100 ms",
      met: sb.replied === CONNECTIONS && sb.frP90 < P90_TARGET_US,
    };
  },
};
