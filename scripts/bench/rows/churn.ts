/**
 * S3 (docs/performance.md): connect, one PING, close, four at a time; connections per
 * server core, since the generator, not the server, may be what saturates.
 */
import type { BenchContext } from "../context.ts";
import { acrossServers, median } from "../measure.ts";
import { type BenchRow, count, type Row, times } from "../row.ts";
import type { ServerKind } from "../servers.ts";

const CONNECTIONS = 4;

/** S3: connect, one request, close. */
export const S3: BenchRow = {
  id: "S3",
  about: `connect, one request, close (${CONNECTIONS} at a time)`,
  compares: true,
  async run(context: BenchContext): Promise<Row> {
    const results = await acrossServers(
      context,
      "S3",
      { connections: CONNECTIONS, churn: true },
      { reps: context.options.reps, compares: true },
    );
    const perCore = (kind: ServerKind) => {
      const r = results.get(kind);
      return r ? median(r.map((v) => v.cps / v.serverCpu)) : NaN;
    };
    const cps = (kind: ServerKind) => {
      const r = results.get(kind);
      return r
        ? `${count(median(r.map((v) => v.cps)))} conn/s (${count(perCore(kind))} per core)`
        : "n/a";
    };
    return {
      scenario: `S3: connect, one request, close (${CONNECTIONS} at a time)`,
      switchboard: cps("switchboard"),
      compare: results.has("compare")
        ? {
          result: cps("compare"),
          ratio: `${times(perCore("switchboard"), perCore("compare"))} per core`,
        }
        : undefined,
      deno: cps("deno"),
      node: cps("node"),
      ratio: `${times(perCore("switchboard"), perCore("deno"))} Deno`,
      target: "≥ 1.0× plain Deno, per core",
      met: perCore("switchboard") >= perCore("deno"),
    };
  },
};
