/**
 * The command line of `deno task bench`: its options, their defaults and
 * limits, and the usage text, which lists the rows of the registry it is
 * given. Parsing throws UsageError; it never prints or exits.
 */
import { parseArgs } from "@std/cli/parse-args";
import { UsageError } from "../../lib/usage_error.ts";

/** Which load generator runs the loads; auto: the C one where it is found and builds. */
export type LoadgenChoice = "auto" | "deno" | "c";

/** What one run of the bench is asked to do. */
export interface BenchOptions {
  help: boolean;
  /** Shorter windows, one repetition, fewer connections in the big rows: a smoke test of the harness. */
  quick: boolean;
  /** Ids of the rows to run, as the registry spells them. */
  only: ReadonlySet<string>;
  /** Repetitions of the rows that interleave servers (S1, S6, S3). */
  reps: number;
  fileBytes: number;
  /** Seconds each load is measured, after its warmup. */
  durationS: number;
  /** Another switchboard checkout, benchmarked as one more column; absolute path. */
  compare: string | undefined;
  loadgen: LoadgenChoice;
  /** --loadgen-src: a C loadgen source to build, as given. */
  loadgenSource: string | undefined;
  /** --loadgen-bin: a C loadgen already built, as given. */
  loadgenBinary: string | undefined;
}

/** What the usage text says about a row. */
export interface RowSummary {
  id: string;
  about: string;
  compares: boolean;
}

const MiB = 1024 ** 2;
/** Repetitions at most: each is a fresh server per column, some seconds each. */
const MAX_REPS = 100;
/** FILE size at most, in MiB: the test writes the file, copies it twice and moves it each way. */
const MAX_FILE_MIB = 64 * 1024;
const DEFAULT_REPS = 3;
const DEFAULT_FILE_MIB = 1024;
const DURATION_S = 5;
const QUICK_DURATION_S = 2;
const LOADGEN_CHOICES: readonly LoadgenChoice[] = ["auto", "deno", "c"];
/** Where the C loadgen is looked for when no path is given, and the variable that names another place. */
export const LOADGEN_SOURCE_VARIABLE = "SWITCHBOARD_LOADGEN_SRC";
/** The C loadgen's usual place, beside the checkout (the course's shared folder). */
export const DEFAULT_LOADGEN_SOURCE = "../shared/bench/loadgen.c";

/** The help text, with one line per row of `rows`. */
export function benchUsage(rows: readonly RowSummary[]): string {
  const ids = rows.map((row) => row.id);
  const compared = rows.filter((row) => row.compares).map((row) => row.id).join(", ");
  const width = Math.max(...ids.map((id) => id.length));
  const rowLines = rows.map((row) =>
    `                   ${row.id.padEnd(width)}  ${row.about}${row.compares ? " (compare)" : ""}`
  );
  return `usage: deno task bench [--quick] [--only ${ids.join(",")}] [--reps N]
  [--file-mib N] [--compare DIR] [--loadgen auto|deno|c] [--loadgen-src FILE | --loadgen-bin FILE]

  --quick          shorter runs, one repetition (a smoke test of the harness)
  --only LIST      run only these rows (default: all):
${rowLines.join("\n")}
  --reps N         repetitions of S1, S6 and S3, interleaved across servers (default ${DEFAULT_REPS})
  --file-mib N     size of the FILE PUT/GET test (default ${DEFAULT_FILE_MIB})
  --compare DIR    another switchboard checkout (e.g. git worktree add /tmp/old COMMIT): its
                   server.ts runs as one more column, interleaved with the others, with a ratio
                   "switchboard vs compare", in the rows marked (compare): ${compared}
  --loadgen        c: the C load generator (below); deno: switchboard-client bench;
                   auto (default): c where it is found and builds here, else deno
  --loadgen-src F  the C load generator's source, built with cc (default: $${LOADGEN_SOURCE_VARIABLE},
                   else ${DEFAULT_LOADGEN_SOURCE} beside this checkout, where it exists)
  --loadgen-bin F  a C load generator already built, run as it is`;
}

/** Parses the command line; `rowIds` are the rows --only may name, in table order. */
export function parseBenchOptions(
  args: readonly string[],
  rowIds: readonly string[],
): BenchOptions {
  const unknown: string[] = [];
  const flags = parseArgs([...args], {
    string: ["only", "loadgen", "loadgen-src", "loadgen-bin", "reps", "file-mib", "compare"],
    boolean: ["quick", "help"],
    alias: { h: "help" },
    unknown: (arg: string) => {
      unknown.push(arg);
      return false;
    },
  }) as Record<string, string | boolean | undefined>;
  const text = (name: string) => {
    const value = flags[name];
    return typeof value === "string" ? value : undefined;
  };
  if (unknown.length > 0) throw new UsageError(`unknown argument ${unknown[0]}`);
  const quick = flags.quick === true;
  const onlyList = text("only");
  const only = onlyList === undefined
    ? new Set(rowIds)
    : new Set(onlyList.toUpperCase().split(",").filter((id) => id !== ""));
  for (const id of only) {
    if (!rowIds.includes(id)) {
      throw new UsageError(`--only names rows of ${rowIds.join(",")}: received "${id}"`);
    }
  }
  const loadgen = (text("loadgen") ?? "auto") as LoadgenChoice;
  if (!LOADGEN_CHOICES.includes(loadgen)) {
    throw new UsageError(`--loadgen is auto, deno or c: received "${loadgen}"`);
  }
  const loadgenSource = text("loadgen-src");
  const loadgenBinary = text("loadgen-bin");
  if (loadgenSource !== undefined && loadgenBinary !== undefined) {
    throw new UsageError("--loadgen-src and --loadgen-bin name the same thing: give one");
  }
  if (loadgen === "deno" && (loadgenSource ?? loadgenBinary) !== undefined) {
    throw new UsageError(
      "--loadgen deno runs no C load generator: no --loadgen-src or --loadgen-bin",
    );
  }
  return {
    help: flags.help === true,
    quick,
    only,
    reps: integer("reps", text("reps"), quick ? 1 : DEFAULT_REPS, MAX_REPS),
    fileBytes: integer("file-mib", text("file-mib"), DEFAULT_FILE_MIB, MAX_FILE_MIB) * MiB,
    durationS: quick ? QUICK_DURATION_S : DURATION_S,
    compare: text("compare") === undefined ? undefined : checkout(text("compare")!),
    loadgen,
    loadgenSource,
    loadgenBinary,
  };
}

/** A positive integer option up to `max`, or its default. */
function integer(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= max)) {
    throw new UsageError(`--${name} must be an integer from 1 to ${max}: received "${value}"`);
  }
  return n;
}

/** The absolute path of a switchboard checkout: a directory with a server.ts. */
function checkout(dir: string): string {
  try {
    const root = Deno.realPathSync(dir);
    if (Deno.statSync(`${root}/server.ts`).isFile) return root;
  } catch {
    // Not there, or no server.ts: said below.
  }
  throw new UsageError(
    `--compare must be a switchboard checkout (a directory with server.ts): received "${dir}"`,
  );
}
