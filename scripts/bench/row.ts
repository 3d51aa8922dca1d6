/**
 * What a row of the bench table is: the cells it prints (Row), the unit the
 * registry lists (BenchRow: an id for --only, a line of usage, whether it
 * takes --compare, and how it runs), and how its numbers are written.
 */
import type { BenchContext } from "./context.ts";

/** The cells of one line of the table. */
export interface Row {
  scenario: string;
  switchboard: string;
  /** The compare checkout's cell and "switchboard vs compare"; only rows that compare, with --compare. */
  compare?: { result: string; ratio: string } | undefined;
  /** The plain Deno echo's cell (or the row's own reference). */
  deno: string;
  /** Node's echo's cell (or empty). */
  node: string;
  ratio: string;
  target: string;
  met: boolean;
}

/** A row of the registry: adding a scenario is one module exporting one of these. */
export interface BenchRow {
  /** How --only names it (upper case). */
  id: string;
  /** A line for the usage text. */
  about: string;
  /** Whether it measures the --compare checkout as one more column. */
  compares: boolean;
  /** Starts its own servers, runs its own loads, and returns its cells. */
  run(context: BenchContext): Promise<Row>;
}

const MiB = 1024 ** 2;

/** A whole number with thousands separators: 157,141. */
export function count(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

/** µs as ms: two decimals below 10 ms, none above. */
export function millis(us: number): string {
  return `${(us / 1000).toFixed(us < 10_000 ? 2 : 0)} ms`;
}

/** a / b as "1.23×". */
export function times(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

/** Bytes as whole MiB: "165 MiB". */
export function mebibytes(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}
