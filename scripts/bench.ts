/**
 * `deno task bench`: docs/performance.md measured. Starts switchboard and the reference
 * servers of scripts/bench/ (a plain `Deno.listen` echo and a Node `net`
 * echo), and with --compare another switchboard checkout, runs the same
 * loads against each — interleaved, a fresh server process per
 * measurement — and prints one table with the ratios and targets of
 * docs/performance.md. Absolute numbers drift on shared machines; ratios measured in
 * one run do not, much.
 *
 * Server on CPU 0 and load on CPU 1 (`taskset`), where there are two CPUs
 * and taskset exists. The load generator is a C loadgen where one is given
 * or found and builds (on 2 cores a Deno generator saturates before the
 * server does), else `switchboard-client bench`; the table says which ran.
 * The rows are the registry of scripts/bench/rows/; this file parses the
 * command line, builds the run's context and prints what the rows return.
 *
 * Linux only (taskset, /proc for CPU and memory).
 */
import { UsageError } from "../lib/usage_error.ts";
import { progress } from "./bench/context.ts";
import { chooseLoadgen } from "./bench/loadgen.ts";
import { benchUsage, parseBenchOptions } from "./bench/suite_options.ts";
import { formatReport } from "./bench/suite_report.ts";
import type { Row } from "./bench/row.ts";
import { ROWS } from "./bench/rows/mod.ts";
import { output, probeMachine } from "./bench/system.ts";

/** Exit codes: a usage error is 2, as for the server and the client. */
const EXIT = { ok: 0, usage: 2 } as const;

/** Runs the bench; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const usage = benchUsage(ROWS);
  try {
    const options = parseBenchOptions(args, ROWS.map((row) => row.id));
    if (options.help) {
      console.log(usage);
      return EXIT.ok;
    }
    const started = Date.now();
    const machine = await probeMachine();
    const { generator, fallback } = await chooseLoadgen(options, machine);
    if (fallback) progress(`load generator: switchboard-client bench (${fallback})`);
    const context = { options, machine, loadgen: generator };
    const rows: Row[] = [];
    for (const row of ROWS) {
      if (options.only.has(row.id)) rows.push(await row.run(context));
    }
    const compareCommit = options.compare === undefined
      ? undefined
      : (await output("git", ["-C", options.compare, "rev-parse", "--short", "HEAD"])).out.trim() ||
        undefined;
    console.log(formatReport(context, {
      auto: options.loadgen === "auto",
      seconds: (Date.now() - started) / 1000,
      compareCommit,
    }, rows));
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n${usage}`);
    return EXIT.usage;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
