/**
 * `deno task bench` (scripts/bench.ts): its options, its table, --compare,
 * and the choice of load generator, without ../shared: a fake C loadgen
 * (a shell script printing a fixed RESULT line) stands in for the real one.
 * No timings asserted.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "@std/assert";
import { UsageError } from "../lib/usage_error.ts";
import { benchUsage, parseBenchOptions } from "../scripts/bench/suite_options.ts";
import { formatReport } from "../scripts/bench/suite_report.ts";
import { ROWS } from "../scripts/bench/rows/mod.ts";
import type { BenchContext } from "../scripts/bench/context.ts";
import type { Row } from "../scripts/bench/row.ts";
import { repoPath } from "./helpers.ts";

const ROW_IDS = ROWS.map((row) => row.id);
const decoder = new TextDecoder();

/** `deno task bench ARGS` in the repository, with `env` added; exit code and output. */
async function benchTask(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "bench", ...args],
    cwd: repoPath("."),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The table's header and rows (not the --- line), split into cells. */
function tableCells(stdout: string): string[][] {
  return stdout.split("\n").filter((line) => line.startsWith("| ")).map((line) =>
    line.slice(2, -2).split(" | ")
  );
}

/** A fake C loadgen in a scratch directory: logs its arguments, prints a fixed RESULT line. */
async function fakeLoadgen(dir: string): Promise<{ binary: string; log: string }> {
  const binary = `${dir}/loadgen`;
  const log = `${dir}/args.log`;
  await Deno.writeTextFile(
    binary,
    `#!/bin/sh\nprintf '%s\\n' "$*" >> ${log}\n` +
      `echo "RESULT rps=1000 cps=0 p50_us=10.0 p90_us=20.0 p99_us=30.0 p999_us=40.0 max_us=50.0 ` +
      `errors=0 requests=2000 window_s=2.000 conns=50 replied=50 outstanding=0 lg_cpu=0.50 srv_cpu=0.50"\n`,
  );
  await Deno.chmod(binary, 0o755);
  return { binary, log };
}

Deno.test("bench options: defaults, --quick, and every row when --only is not given", () => {
  const full = parseBenchOptions([], ROW_IDS);
  assertEquals([...full.only], [
    "S1",
    "S6",
    "S4",
    "GAP",
    "S3",
    "FILE",
    "IDLE",
    "HOLD",
    "COUNT",
    "HASH",
    "COUNTFAIR",
    "SLOWLORIS",
    "KVKEYS",
    "LIST",
    "FAULTS",
    "TLS",
    "TLSPEERS",
    "AUTH",
    "PGKV",
    "PGFILE",
    "LIVE",
    "LIVEQ",
    "HAPROXY",
    "S1T",
    "S6T",
    "GAPT",
    "IDLET",
  ]);
  assertEquals([full.reps, full.durationS, full.fileBytes, full.loadgen], [
    3,
    5,
    1024 ** 3,
    "auto",
  ]);
  const quick = parseBenchOptions(["--quick", "--only", "s1,gap", "--file-mib", "8"], ROW_IDS);
  assertEquals([[...quick.only], quick.reps, quick.durationS], [["S1", "GAP"], 1, 2]);
  assertEquals(quick.fileBytes, 8 * 1024 ** 2);
});

Deno.test("bench options: a bad value is a UsageError naming it and what is allowed", () => {
  assertThrows(() => parseBenchOptions(["--only", "S1,S9"], ROW_IDS), UsageError, `"S9"`);
  assertThrows(() => parseBenchOptions(["--loadgen", "rust"], ROW_IDS), UsageError, `"rust"`);
  assertThrows(() => parseBenchOptions(["--reps", "0"], ROW_IDS), UsageError, "from 1 to 100");
  assertThrows(() => parseBenchOptions(["--bogus"], ROW_IDS), UsageError, "--bogus");
  assertThrows(
    () => parseBenchOptions(["--loadgen-src", "a.c", "--loadgen-bin", "a"], ROW_IDS),
    UsageError,
    "give one",
  );
  assertThrows(
    () => parseBenchOptions(["--loadgen", "deno", "--loadgen-bin", "a"], ROW_IDS),
    UsageError,
    "no --loadgen-src or --loadgen-bin",
  );
  assertThrows(
    () => parseBenchOptions(["--compare", "/nonexistent/switchboard"], ROW_IDS),
    UsageError,
    `--compare must be a switchboard checkout (a directory with server.ts): received "/nonexistent/switchboard"`,
  );
});

Deno.test("bench options: --compare takes a checkout's absolute path", () => {
  const options = parseBenchOptions(["--compare", repoPath("tests/..")], ROW_IDS);
  assertEquals(options.compare, Deno.realPathSync(repoPath(".")));
});

Deno.test("bench usage lists every row and says which ones --compare runs in", () => {
  const usage = benchUsage(ROWS);
  for (const id of ROW_IDS) assertMatch(usage, new RegExp(`^ +${id} +\\S`, "m"));
  assertStringIncludes(usage, "in the rows marked (compare): S1, S6, S4, S3, IDLE, PGFILE");
  assertMatch(usage, /^ +S1 +50 persistent clients, PING \(compare\)$/m);
  assertMatch(usage, /^ +GAP +admission gap .*reply$/m);
});

/** The table lines of a report of `rows`, with or without a --compare checkout. */
function tableOf(compare: string | undefined, rows: Row[]): string[] {
  const options = parseBenchOptions([], ROW_IDS);
  const context: BenchContext = {
    options: { ...options, compare },
    machine: { cpus: 2, pinned: true, nodeVersion: "v20.0.0", cpuModel: "test CPU" },
    loadgen: { label: "test generator", run: () => Promise.reject(new Error("not run")) },
  };
  const report = formatReport(context, { auto: true, seconds: 1, compareCommit: undefined }, rows);
  return report.split("\n").filter((line) => line.startsWith("|"));
}

const S1_ROW: Row = {
  scenario: "S1",
  switchboard: "sb",
  compare: { result: "old", ratio: "1.01× per core" },
  deno: "d",
  node: "n",
  ratio: "r",
  target: "t",
  met: false,
};

Deno.test("bench table: the columns it always had without --compare, two more with it", () => {
  assertEquals(tableOf(undefined, [S1_ROW]), [
    "| scenario | switchboard | plain Deno echo | Node echo | ratio | target | met |",
    "|---|---|---|---|---|---|---|",
    "| S1 | sb | d | n | r | t | **no** |",
  ]);
  const gap: Row = { ...S1_ROW, scenario: "GAP", compare: undefined, met: true };
  assertEquals(tableOf("/old", [S1_ROW, gap]), [
    "| scenario | switchboard | compare | plain Deno echo | Node echo | ratio | vs compare | target | met |",
    "|---|---|---|---|---|---|---|---|---|",
    "| S1 | sb | old | d | n | r | 1.01× per core | t | **no** |",
    "| GAP | sb |  | d | n | r |  | t | yes |",
  ]);
});

Deno.test("bench --loadgen-bin runs that C loadgen against every server, --compare as one more", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-bench-test-" });
  try {
    const { binary, log } = await fakeLoadgen(dir);
    const out = await benchTask([
      "--only",
      "S1",
      "--quick",
      "--loadgen-bin",
      binary,
      "--compare",
      repoPath("."),
    ]);
    assertEquals(out.code, 0, out.stderr);
    assertStringIncludes(out.stdout, `# load generator: C loadgen (${binary}) (auto);`);
    assertStringIncludes(out.stdout, `# compare: ${Deno.realPathSync(repoPath("."))}`);
    const [header, row] = tableCells(out.stdout);
    assertEquals(header![2], "compare");
    const cell = "1,000/s (2,000 per core)";
    assertEquals(row!.slice(0, 3), ["S1: 50 persistent clients, PING", cell, cell]);
    assertEquals(row![3], cell);
    assertEquals(row![6], "1.00× per core");
    const calls = (await Deno.readTextFile(log)).trim().split("\n");
    const withNode = row![4] === cell;
    assertEquals(calls.length, withNode ? 4 : 3);
    // switchboard and compare answer PONG, the echoes echo; each on its own port.
    const expects = calls.map((call) => /-e (.*?) --server-pid/.exec(call)?.[1]);
    assertEquals(expects.slice(0, 3), ["OK PONG", "OK PONG", "PING"]);
    const ports = new Set(calls.map((call) => /-p (\d+)/.exec(call)?.[1]));
    assertEquals(ports.size, calls.length);
    assertMatch(calls[0]!, /^-p \d+ -c 50 -d 2 -w 1 -r PING\\n -e OK PONG --server-pid \d+$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench falls back to switchboard-client bench where no C loadgen source is found", async () => {
  const missing = "/nonexistent/loadgen.c";
  const out = await benchTask(["--only", "GAP", "--quick"], { SWITCHBOARD_LOADGEN_SRC: missing });
  assertEquals(out.code, 0, out.stderr);
  assertStringIncludes(out.stderr, `no C load generator at ${missing}`);
  assertStringIncludes(out.stdout, "# load generator: switchboard-client bench (auto);");
  const [, gap] = tableCells(out.stdout);
  assertMatch(gap![1]!, /^p50 \d+\.\d\d ms, p99 \d+\.\d\d ms \(50 hand-overs\)$/);
});

Deno.test("bench --only TLS measures switchboard over TLS and plain with the Deno generator", async () => {
  const out = await benchTask(["--only", "TLS", "--quick"]);
  assertEquals(out.code, 0, out.stderr);
  assert(!out.stderr.includes("errors"), out.stderr);
  const [, tls] = tableCells(out.stdout);
  assertEquals(
    tls![0],
    "TLS: S1 (50 clients, PING) over TLS vs plain, both by switchboard-client bench",
  );
  assertMatch(tls![1]!, /^TLS [\d,]+\/s \([\d,]+ per core\); plain [\d,]+\/s \([\d,]+ per core\)$/);
  assertMatch(tls![4]!, /^\d+\.\d\d× plain per core \(best req\/s: \d+\.\d\d×\)$/);
  assertEquals(tls![5], "≥ 0.5× plain per core");
});

/** A duration as the bench writes it: two decimals below 10 ms, none above. */
const MS = String.raw`\d+(?:\.\d\d)? ms`;

Deno.test("bench --only AUTH measures a bystander's PING alone and while 20 clients AUTH", async () => {
  const out = await benchTask(["--only", "AUTH", "--quick", "--loadgen", "deno"]);
  assertEquals(out.code, 0, out.stderr);
  const [, auth] = tableCells(out.stdout);
  assertMatch(
    auth![1]!,
    new RegExp(
      `^p99 ${MS} \\(alone ${MS}\\), p50 ${MS} \\(alone ${MS}\\); [1-9][\\d,]* AUTH/s; ` +
        `sprayed AUTH p50 ${MS}, max ${MS} \\(alone p50 ${MS}; [\\d,]+ guesses checked\\)$`,
    ),
  );
  assertMatch(auth![4]!, new RegExp(`^p99 [+-]${MS}$`));
});

Deno.test("bench --only LIVE runs S1 with the live page closed and open, and reports the ratios", async () => {
  const out = await benchTask(["--only", "LIVE", "--quick", "--loadgen", "deno"]);
  assertEquals(out.code, 0, out.stderr);
  const [, live] = tableCells(out.stdout);
  // The open window read the stream: about 5 samples a second, at least one.
  assertMatch(live![1]!, /^open [\d,]+ req\/s, PING p99 [\d.]+ ms \([1-9]\d* samples read\)$/);
  assertMatch(live![2]!, /^closed [\d,]+ req\/s, PING p99 [\d.]+ ms$/);
  assertMatch(live![4]!, /^throughput \d+\.\d\d×, p99 \d+\.\d\d×$/);
});

Deno.test("bench --only HAPROXY measures S1 through HAProxy to two servers against one direct", async () => {
  const out = await benchTask(["--only", "HAPROXY", "--quick"]);
  assertEquals(out.code, 0, out.stderr);
  const [, row] = tableCells(out.stdout);
  assertEquals(
    row![0],
    "HAPROXY: S1 (50 clients, PING) through HAProxy to 2 servers vs 1 server direct",
  );
  assertMatch(row![1]!, /^through HAProxy [1-9][\d,]*\/s; direct [1-9][\d,]*\/s$/);
  assertMatch(row![4]!, /^\d+\.\d\d× direct \(HAProxy and both servers on one core\)$/);
});

Deno.test("bench --loadgen c without a C loadgen is a usage error (exit 2)", async () => {
  const out = await benchTask(["--loadgen", "c", "--only", "S1"], {
    SWITCHBOARD_LOADGEN_SRC: "/nonexistent/loadgen.c",
  });
  assertEquals(out.code, 2);
  assertStringIncludes(
    out.stderr,
    "error: --loadgen c: no C load generator at /nonexistent/loadgen.c; give --loadgen-src or --loadgen-bin",
  );
  assertStringIncludes(out.stderr, "usage: deno task bench");
  assertEquals(out.stdout, "");
});

Deno.test("bench --compare measures the other checkout's server with the Deno generator", async () => {
  const out = await benchTask([
    "--only",
    "S1",
    "--quick",
    "--loadgen",
    "deno",
    "--compare",
    repoPath("."),
  ]);
  assertEquals(out.code, 0, out.stderr);
  assertStringIncludes(out.stdout, "# load generator: switchboard-client bench;");
  assert(!out.stderr.includes("errors"), out.stderr);
  const [, row] = tableCells(out.stdout);
  const rate = /^([\d,]+)\/s \(([\d,]+) per core\)$/;
  for (const cell of [row![1]!, row![2]!, row![3]!]) {
    const [, rps] = rate.exec(cell) ?? [];
    assert(rps !== undefined && Number(rps.replaceAll(",", "")) > 0, cell);
  }
  assertMatch(row![6]!, /^\d+\.\d\d× per core$/);
});
