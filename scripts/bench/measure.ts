/**
 * Measuring one load on several servers: fresh servers taking turns,
 * repetition after repetition, so that a slow minute of a shared machine
 * falls on all of them alike; and the medians the table shows.
 */
import { type BenchContext, progress, runLoad, serverKinds, startServer } from "./context.ts";
import type { Load, LoadResult } from "./load.ts";
import { PING, type ServerKind } from "./servers.ts";
import { count } from "./row.ts";

/** How a load is repeated across servers. */
export interface AcrossOptions {
  /** Repetitions, each a fresh server of every kind in turn. */
  reps: number;
  /** Whether the --compare checkout takes a turn too. */
  compares: boolean;
  /** switchboard's (and compare's) own options. */
  serverArgs?: string[];
}

/** Runs `load` (PING) against every server kind, interleaved; per kind the results, in order. */
export async function acrossServers(
  context: BenchContext,
  name: string,
  load: Omit<Load, "request" | "expect">,
  options: AcrossOptions,
): Promise<Map<ServerKind, LoadResult[]>> {
  const results = new Map<ServerKind, LoadResult[]>();
  for (let rep = 0; rep < options.reps; rep++) {
    for (const kind of serverKinds(context, options)) {
      progress(`${name} ${kind} (${rep + 1}/${options.reps})`);
      await using server = await startServer(context, kind, {
        args: kind === "switchboard" || kind === "compare" ? options.serverArgs ?? [] : [],
      });
      const result = await runLoad(context, server, { ...load, ...PING[kind] });
      if (result.errors > 0) progress(`  ${result.errors} errors`);
      results.set(kind, [...results.get(kind) ?? [], result]);
    }
  }
  return results;
}

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/** The median run by requests per server core; "req/s (per core)" text; NaN and "n/a" without runs. */
export function perCore(results: LoadResult[] | undefined): { value: number; text: string } {
  if (!results) return { value: NaN, text: "n/a" };
  const ordered = [...results].sort((a, b) => a.rps / a.serverCpu - b.rps / b.serverCpu);
  const mid = ordered[Math.floor((ordered.length - 1) / 2)]!;
  const value = mid.rps / mid.serverCpu;
  return { value, text: `${count(mid.rps)}/s (${count(value)} per core)` };
}
