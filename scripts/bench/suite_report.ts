/**
 * The bench's output: two header lines on the machine, the generator and
 * the run (a third naming the --compare checkout when there is one), then
 * one markdown table. Without --compare the table has the columns it
 * always had; with it, a compare column after switchboard's and a
 * "vs compare" column after the ratio.
 */
import type { BenchContext } from "./context.ts";
import { WARMUP_S } from "./load.ts";
import type { Row } from "./row.ts";

/** What the header says about the run besides its context. */
export interface RunFacts {
  /** The generator was picked by --loadgen auto. */
  auto: boolean;
  /** Seconds the whole run took. */
  seconds: number;
  /** The compare checkout's commit, where git can say. */
  compareCommit: string | undefined;
}

/** The columns of the table with --compare: two more than without it. */
const COMPARE_COLUMNS = [
  "scenario",
  "switchboard",
  "compare",
  "plain Deno echo",
  "Node echo",
  "ratio",
  "vs compare",
  "target",
  "met",
];
/** The columns the table always had. */
const COLUMNS = COMPARE_COLUMNS.filter((column) => column !== "compare" && column !== "vs compare");

/** The report: header lines, a blank line, the table; one string, lines joined. */
export function formatReport(context: BenchContext, facts: RunFacts, rows: readonly Row[]): string {
  const { options, machine } = context;
  const date = new Date().toISOString().slice(0, 10);
  const generator = `${context.loadgen.label}${facts.auto ? " (auto)" : ""}`;
  const pinning = machine.pinned ? "server on CPU 0, load on CPU 1 (taskset)" : "not pinned";
  const lines = [
    `# deno task bench — ${date}, ${machine.cpus} × ${machine.cpuModel}, ` +
    `deno ${Deno.version.deno}, node ${machine.nodeVersion ?? "not found"}`,
    `# load generator: ${generator}; ${pinning}; ` +
    `${options.reps} rep(s), median by requests per server core; ` +
    `${options.durationS} s windows after ${WARMUP_S} s warmup; ` +
    `${Math.round(facts.seconds)} s in all`,
  ];
  const compared = options.compare !== undefined;
  if (compared) {
    const commit = facts.compareCommit ? ` at ${facts.compareCommit}` : "";
    lines.push(`# compare: ${options.compare}${commit} (its server.ts, same loads, interleaved)`);
  }
  const header = compared ? COMPARE_COLUMNS : COLUMNS;
  lines.push("", tableLine(header), `|${header.map(() => "---").join("|")}|`);
  for (const row of rows) lines.push(tableLine(cells(row, compared)));
  return lines.join("\n");
}

/** A row's cells; with `compared`, those of COMPARE_COLUMNS, empty where the row does not compare. */
function cells(row: Row, compared: boolean): string[] {
  const compare = row.compare ?? { result: "", ratio: "" };
  return [
    row.scenario,
    row.switchboard,
    ...(compared ? [compare.result] : []),
    row.deno,
    row.node,
    row.ratio,
    ...(compared ? [compare.ratio] : []),
    row.target,
    row.met ? "yes" : "**no**",
  ];
}

function tableLine(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}
