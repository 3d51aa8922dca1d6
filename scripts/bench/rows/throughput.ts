/**
 * S1 and S6 (docs/performance.md): persistent connections sending PING, one or 16 in
 * flight each; requests per server core, median of the interleaved
 * repetitions, against both echoes and, with --compare, the other checkout.
 */
import type { BenchContext } from "../context.ts";
import type { Load } from "../load.ts";
import { acrossServers, perCore } from "../measure.ts";
import { type BenchRow, type Row, times } from "../row.ts";

/** What makes one throughput row. */
interface ThroughputSpec {
  id: string;
  scenario: string;
  load: Omit<Load, "request" | "expect">;
  target: string;
  /** Whether the target is met, from requests per core (Node's is 0 without Node). */
  met: (switchboard: number, deno: number, node: number) => boolean;
}

function throughputRow(spec: ThroughputSpec): BenchRow {
  return {
    id: spec.id,
    about: spec.scenario.slice(spec.id.length + 2),
    compares: true,
    async run(context: BenchContext): Promise<Row> {
      const results = await acrossServers(context, spec.id, spec.load, {
        reps: context.options.reps,
        compares: true,
      });
      const [sb, compare, deno, node] = (["switchboard", "compare", "deno", "node"] as const).map(
        (kind) => perCore(results.get(kind)),
      );
      const hasNode = results.has("node");
      return {
        scenario: spec.scenario,
        switchboard: sb!.text,
        compare: results.has("compare")
          ? { result: compare!.text, ratio: `${times(sb!.value, compare!.value)} per core` }
          : undefined,
        deno: deno!.text,
        node: node!.text,
        ratio: `${times(sb!.value, deno!.value)} Deno, ${
          hasNode ? times(sb!.value, node!.value) : "n/a"
        } Node`,
        target: spec.target,
        met: spec.met(sb!.value, deno!.value, hasNode ? node!.value : 0),
      };
    },
  };
}

/** S1: 50 persistent clients, one PING in flight each. */
export const S1 = throughputRow({
  id: "S1",
  scenario: "S1: 50 persistent clients, PING",
  load: { connections: 50 },
  target: "≥ 1.0× Deno and Node, per core",
  met: (sb, deno, node) => sb >= deno && sb >= node,
});

/** S6: 50 clients, 16 PINGs in flight each (write coalescing). */
export const S6 = throughputRow({
  id: "S6",
  scenario: "S6: 50 clients, 16 in flight each",
  load: { connections: 50, pipeline: 16 },
  target: "≥ 2× Deno, > Node, per core",
  met: (sb, deno, node) => sb >= 2 * deno && sb > node,
});
