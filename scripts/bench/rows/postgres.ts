/**
 * PGKV and PGFILE (docs/performance.md, docs/several-servers.md): the shared store on a local
 * PostgreSQL, in a private cluster the row makes and removes
 * (tests/postgres.ts). PGKV: KV SET, GET and INCR from 50 clients through
 * `--store postgres://…` beside the embedded store, same run; and INCR's
 * exactness under that load. PGFILE: a FILE PUT and GET of --file-mib MiB
 * through the database (MB/s, the server's peak RSS growth). Both say
 * "skipped" in one line where PostgreSQL is not installed.
 */
import { writeAll } from "../../../lib/io.ts";
import { ReplyReader } from "../../../lib/protocol/mod.ts";
import { postgresBinaries, PostgresCluster } from "../../../tests/postgres.ts";
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import { LOAD_CPU } from "../load.ts";
import { type BenchRow, count, mebibytes, type Row, times } from "../row.ts";
import { DENO, memory, output, pinned, REPO_ROOT, RUN_AS_CLIENT } from "../system.ts";
import { randomFile } from "./file.ts";

const MiB = 1024 ** 2;
const CLIENTS = 50;
/** INCRs each client sends for the exactness check. */
const INCRS_EACH = 200;
const TARGETS = { set: 5_000, get: 20_000, fileMbS: 200, growth: 64 * MiB } as const;
const encoder = new TextEncoder();

/** The row's cells when there is no PostgreSQL to measure. */
function skipped(scenario: string, target: string): Row | undefined {
  if (postgresBinaries() !== undefined) return undefined;
  progress(`${scenario}: skipped, PostgreSQL is not installed (no initdb)`);
  return {
    scenario,
    switchboard: "skipped: PostgreSQL is not installed (no initdb; .ci/run installs postgresql)",
    deno: "",
    node: "",
    ratio: "",
    target,
    met: true,
  };
}

/** `CLIENTS` clients each sending `INCRS_EACH` KV INCRs; true when the final value is exact. */
async function incrementsExact(port: number): Promise<boolean> {
  const one = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const replies = new ReplyReader(conn);
    try {
      for (let i = 0; i < INCRS_EACH; i++) {
        await writeAll(conn, encoder.encode("KV INCR exact\n"));
        const reply = await replies.read();
        if (reply.kind !== "ok") throw new Error(`KV INCR answered ${JSON.stringify(reply)}`);
      }
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, one));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, encoder.encode("KV GET exact\n"));
    const reply = await new ReplyReader(conn).read();
    return reply.kind === "ok" && reply.text === String(CLIENTS * INCRS_EACH);
  } finally {
    conn.close();
  }
}

/** PGKV: KV SET/GET/INCR, 50 clients, PostgreSQL beside the embedded store. */
export const PGKV: BenchRow = {
  id: "PGKV",
  about: "KV SET/GET/INCR, 50 clients, --store postgres:// beside the embedded store",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    const scenario = `KV on --store postgres:// (local PostgreSQL), ${CLIENTS} clients`;
    const target = `SET ≥ ${count(TARGETS.set)}/s, GET ≥ ${count(TARGETS.get)}/s, INCR exact`;
    const skip = skipped(scenario, target);
    if (skip !== undefined) return skip;
    progress("PGKV: making a PostgreSQL cluster");
    await using cluster = await PostgresCluster.start();
    const measure = async (store: string[]) => {
      await using server = await startServer(context, "switchboard", { args: store });
      const rate = async (request: string, expect: string) =>
        (await runLoad(context, server, { connections: CLIENTS, request, expect })).rps;
      const set = await rate("KV SET bench value", "OK");
      const get = await rate("KV GET bench", "OK value");
      const incr = await rate("KV INCR counter", "");
      return { set, get, incr, exact: await incrementsExact(server.port) };
    };
    progress("PGKV: PostgreSQL");
    const pg = await measure(["--store", cluster.url(await cluster.createDatabase())]);
    progress("PGKV: embedded");
    const embedded = await measure([]);
    const cell = (r: typeof pg) =>
      `SET ${count(r.set)}/s, GET ${count(r.get)}/s, INCR ${count(r.incr)}/s; INCR ${
        r.exact ? "exact" : "NOT EXACT"
      }`;
    return {
      scenario,
      switchboard: `PostgreSQL: ${cell(pg)}`,
      deno: `embedded: ${cell(embedded)}`,
      node: "",
      ratio: `SET ${(pg.set / embedded.set).toFixed(2)}×, GET ${
        (pg.get / embedded.get).toFixed(2)
      }×, INCR ${(pg.incr / embedded.incr).toFixed(2)}× the embedded store`,
      target,
      met: pg.set >= TARGETS.set && pg.get >= TARGETS.get && pg.exact && embedded.exact,
    };
  },
};

/** One PUT and GET through a fresh database of `cluster`: MB/s each way, and the server's peak RSS growth. */
interface FileRun {
  put: number;
  get: number;
  growth: number;
}

/** PUT then GET of `source` (`bytes` long) through a `kind` server on a fresh database of `cluster`. */
async function fileRun(
  context: BenchContext,
  kind: "switchboard" | "compare",
  files: { cluster: PostgresCluster; source: string; dir: string; bytes: number },
): Promise<FileRun> {
  const { cluster, bytes } = files;
  await using server = await startServer(context, kind, {
    args: [
      "--store",
      cluster.url(await cluster.createDatabase()),
      "--max-file-size",
      String(bytes),
    ],
  });
  const before = await memory(server.pid, "VmHWM");
  const transfer = async (verb: "put" | "get", local: string) => {
    progress(`PGFILE: ${kind} ${verb}`);
    const result = await output(...pinned(context.machine, LOAD_CPU, [DENO, [
      ...RUN_AS_CLIENT,
      `${REPO_ROOT}/scripts/bench/file_transfer.ts`,
      String(server.port),
      verb,
      local,
      "bench.bin",
    ]]));
    if (!result.ok) throw new Error(`file_transfer ${verb} through PostgreSQL failed`);
    const { seconds } = JSON.parse(result.out) as { seconds: number };
    return bytes / seconds / 1e6;
  };
  const put = await transfer("put", files.source);
  const get = await transfer("get", `${files.dir}/back-${kind}.bin`);
  await Deno.remove(`${files.dir}/back-${kind}.bin`);
  return { put, get, growth: await memory(server.pid, "VmHWM") - before };
}

/** Whether a run meets PGFILE's targets: MB/s each way, and the RSS growth. */
function meetsFileTargets(run: FileRun): boolean {
  return run.put >= TARGETS.fileMbS && run.get >= TARGETS.fileMbS && run.growth < TARGETS.growth;
}

/** Over `runs`: the fastest PUT and GET, and the largest RSS growth (the worst). */
function summary(runs: FileRun[]): FileRun {
  return {
    put: Math.max(...runs.map((run) => run.put)),
    get: Math.max(...runs.map((run) => run.get)),
    growth: Math.max(...runs.map((run) => run.growth)),
  };
}

/**
 * PGFILE: FILE PUT and GET of --file-mib MiB through PostgreSQL. With
 * --compare, the compare checkout too, on the same cluster, in the order
 * switchboard, compare, compare, switchboard (each on a fresh database): the
 * cluster's first gigabytes also create its WAL files, so neither side
 * always goes first; each side's cell is its faster run each way and its
 * larger RSS growth, with every run listed.
 */
export const PGFILE: BenchRow = {
  id: "PGFILE",
  about: "FILE PUT/GET (--file-mib) through --store postgres://, MB/s and RSS growth",
  compares: true,
  async run(context: BenchContext): Promise<Row> {
    const bytes = context.options.fileBytes;
    const scenario = `FILE ${bytes / MiB} MiB through --store postgres://`;
    const target = `≥ ${TARGETS.fileMbS} MB/s each way; RSS growth < 64 MiB`;
    const skip = skipped(scenario, target);
    if (skip !== undefined) return skip;
    progress("PGFILE: making a PostgreSQL cluster");
    await using cluster = await PostgresCluster.start();
    const dir = await Deno.makeTempDir({ prefix: "switchboard-bench-pgfile-" });
    await using _cleanup = {
      [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
    };
    await randomFile(`${dir}/source.bin`, bytes);
    const files = { cluster, source: `${dir}/source.bin`, dir, bytes };
    const cell = (run: FileRun) =>
      `PUT ${count(run.put)} MB/s, GET ${count(run.get)} MB/s; server peak RSS +${
        (run.growth / MiB).toFixed(1)
      } MiB`;
    if (context.options.compare === undefined) {
      const run = await fileRun(context, "switchboard", files);
      return {
        scenario,
        switchboard: cell(run),
        deno: "",
        node: "",
        ratio: "",
        target,
        met: meetsFileTargets(run),
      };
    }
    const runs = { switchboard: [] as FileRun[], compare: [] as FileRun[] };
    for (const kind of ["switchboard", "compare", "compare", "switchboard"] as const) {
      runs[kind].push(await fileRun(context, kind, files));
    }
    const ours = summary(runs.switchboard);
    const theirs = summary(runs.compare);
    const listed = (all: FileRun[]) => `(runs: ${all.map(cell).join("; ")})`;
    return {
      scenario,
      switchboard: `${cell(ours)} ${listed(runs.switchboard)}`,
      compare: {
        result: `${cell(theirs)} ${listed(runs.compare)}`,
        ratio: `PUT ${times(ours.put, theirs.put)}, GET ${
          times(ours.get, theirs.get)
        }, RSS growth ${mebibytes(ours.growth)} vs ${mebibytes(theirs.growth)}`,
      },
      deno: "",
      node: "",
      ratio: "",
      target,
      met: meetsFileTargets(ours),
    };
  },
};
