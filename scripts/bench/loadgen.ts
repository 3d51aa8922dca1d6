/**
 * Which load generator a run uses (--loadgen auto|deno|c): the C loadgen
 * where one is given (--loadgen-src, --loadgen-bin) or found and builds,
 * else `switchboard-client bench`. Nothing outside the repository is
 * required: ../shared/bench/loadgen.c is only the place looked at when no
 * other is named.
 */
import { UsageError } from "../../lib/usage_error.ts";
import { buildLoadgen, CLoadgen } from "./c_loadgen.ts";
import { DenoLoadgen } from "./deno_loadgen.ts";
import type { LoadGenerator } from "./load.ts";
import {
  type BenchOptions,
  DEFAULT_LOADGEN_SOURCE,
  LOADGEN_SOURCE_VARIABLE,
} from "./suite_options.ts";
import { type Machine, REPO_ROOT } from "./system.ts";

/** The generator of a run, and why auto did not take the C one (for the progress lines). */
export interface ChosenLoadgen {
  generator: LoadGenerator;
  fallback: string | undefined;
}

/** Picks and, for C, builds the generator of a run. Throws UsageError for a path that is not there. */
export async function chooseLoadgen(
  options: BenchOptions,
  machine: Machine,
): Promise<ChosenLoadgen> {
  const deno = (fallback?: string) => ({ generator: new DenoLoadgen(machine), fallback });
  const c = (binary: string, shown: string) => ({
    generator: new CLoadgen(binary, `C loadgen (${shown})`, machine),
    fallback: undefined,
  });
  if (options.loadgen === "deno") return deno();
  if (options.loadgenBinary !== undefined) {
    return c(existing("--loadgen-bin", options.loadgenBinary), options.loadgenBinary);
  }
  if (options.loadgenSource !== undefined) {
    existing("--loadgen-src", options.loadgenSource);
    return c(await buildLoadgen(options.loadgenSource), options.loadgenSource);
  }
  const { path, shown } = lookedFor();
  if (!isFile(path)) {
    if (options.loadgen === "c") {
      throw new UsageError(
        `--loadgen c: no C load generator at ${shown}; give --loadgen-src or --loadgen-bin`,
      );
    }
    return deno(`no C load generator at ${shown}`);
  }
  try {
    return c(await buildLoadgen(path), shown);
  } catch (error) {
    if (options.loadgen === "c") throw error;
    return deno(String(error instanceof Error ? error.message : error));
  }
}

/** Where the C source is looked for: $SWITCHBOARD_LOADGEN_SRC, else beside the checkout. */
function lookedFor(): { path: string; shown: string } {
  // Without the permission (a bare `deno run`), the variable is not read rather than prompted for.
  const readable =
    Deno.permissions.querySync({ name: "env", variable: LOADGEN_SOURCE_VARIABLE }).state ===
      "granted";
  const named = readable ? Deno.env.get(LOADGEN_SOURCE_VARIABLE) : undefined;
  if (named) return { path: named, shown: named };
  return { path: `${REPO_ROOT}/${DEFAULT_LOADGEN_SOURCE}`, shown: DEFAULT_LOADGEN_SOURCE };
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The absolute path of a file an option names; UsageError if there is none. */
function existing(option: string, path: string): string {
  if (!isFile(path)) throw new UsageError(`${option} must name a file: received "${path}"`);
  return Deno.realPathSync(path);
}
