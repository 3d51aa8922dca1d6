/**
 * What every row of `deno task bench` is given: the run's options, the
 * machine and the load generator, in one object passed down instead of
 * module-level state; and the ways rows use it (start a server, run a load,
 * say what is running).
 */
import type { BenchOptions } from "./suite_options.ts";
import type { Machine } from "./system.ts";
import {
  type Load,
  type LoadGenerator,
  type LoadResult,
  type LoadTarget,
  planLoad,
} from "./load.ts";
import { BenchServer, type ServerKind, type StartOptions } from "./servers.ts";

/** One run's settings, shared by its rows; nothing in it changes while the rows run. */
export interface BenchContext {
  readonly options: BenchOptions;
  readonly machine: Machine;
  readonly loadgen: LoadGenerator;
}

/** Starts a `kind` server for a row; `await using` stops it. */
export function startServer(
  context: BenchContext,
  kind: ServerKind,
  options: StartOptions = {},
): Promise<BenchServer> {
  return BenchServer.start(
    { machine: context.machine, compare: context.options.compare },
    kind,
    options,
  );
}

/** Runs `load` against `server` with the run's generator and window. */
export function runLoad(
  context: BenchContext,
  server: LoadTarget,
  load: Load,
): Promise<LoadResult> {
  return context.loadgen.run(server, planLoad(load, context.options.durationS));
}

/**
 * The servers a row measures, in the order they take turns: switchboard,
 * the compare checkout (where the row compares and --compare is given),
 * the plain Deno echo, and Node's echo where Node is installed.
 */
export function serverKinds(context: BenchContext, options: { compares: boolean }): ServerKind[] {
  return [
    "switchboard",
    ...(options.compares && context.options.compare !== undefined ? ["compare" as const] : []),
    "deno",
    ...(context.machine.nodeVersion !== undefined ? ["node" as const] : []),
  ];
}

/** One line on stderr about what runs now (the table goes to stdout at the end). */
export function progress(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`bench: ${message}\n`));
}
