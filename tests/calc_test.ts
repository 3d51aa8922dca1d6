/** CALC semantics (docs/protocol.md#commands "Numbers"), through the real dispatch table. */
import { assertEquals, assertMatch } from "@std/assert";
import type { Services } from "../lib/commands/command.ts";
import { WORKER_OPERAND_CHARS } from "../lib/commands/calc.ts";
import { type CalcJob, runCalcJob } from "../lib/jobs/calc_job.ts";
import { runLine, testContext } from "./context.ts";

/** The rendered reply to a CALC line (CALC touches no service). */
const calc = runLine;

Deno.test("CALC is exact for integers of any size", async () => {
  const a = "123456789012345678901234567890";
  assertEquals(await calc(`CALC add ${a} 1`), "OK 123456789012345678901234567891");
  assertEquals(await calc(`CALC mul ${a} -${a}`), `OK -${BigInt(a) * BigInt(a)}`);
  assertEquals(await calc("CALC - 5 12"), "OK -7");
  assertEquals(await calc("CALC / 1000000000000000000000 -1000"), "OK -1000000000000000000");
  assertEquals(await calc("CALC sub +7 -0"), "OK 7");
});

Deno.test("CALC accepts every operator spelling, case-insensitively", async () => {
  for (const op of ["add", "ADD", "+"]) assertEquals(await calc(`calc ${op} 2 3`), "OK 5");
  for (const op of ["subtract", "Sub", "-"]) assertEquals(await calc(`calc ${op} 2 3`), "OK -1");
  for (const op of ["multiply", "MUL", "*"]) assertEquals(await calc(`calc ${op} 2 3`), "OK 6");
  for (const op of ["divide", "Div", "/"]) assertEquals(await calc(`calc ${op} 6 3`), "OK 2");
});

Deno.test("CALC divides integers exactly: the whole decimal when it ends, else 50 digits and ...", async () => {
  assertEquals(
    await calc("CALC div 10000000000000000000001 10"),
    "OK 1000000000000000000000.1",
  );
  assertEquals(await calc("CALC div 7 2"), "OK 3.5");
  assertEquals(await calc("CALC div -3 40"), "OK -0.075");
  assertEquals(await calc("CALC div 0 -5"), "OK 0");
  assertEquals(await calc("CALC div 1 3"), `OK 0.${"3".repeat(50)}...`);
  assertEquals(await calc("CALC div -2 3"), `OK -0.${"6".repeat(50)}...`);
  assertEquals(await calc("CALC div 22 7"), `OK 3.${"142857".repeat(8)}14...`);
  assertEquals(
    await calc(`CALC div 1${"0".repeat(20)} 3`),
    `OK ${"3".repeat(20)}.${"3".repeat(50)}...`,
  );
  assertEquals(await calc(`CALC div 1 ${"1" + "0".repeat(400)}`), `OK 0.${"0".repeat(399)}1`);
  // A divisor of 2^k 5^m ends after max(k, m) places, however many.
  assertEquals(await calc(`CALC div 1 ${2n ** 200n}`), `OK ${exactPowerOfHalf(200)}`);
});

/** 1 / 2^k written out: 5^k, padded to k places. */
function exactPowerOfHalf(k: number): string {
  return `0.${String(5n ** BigInt(k)).padStart(k, "0")}`;
}

Deno.test("CALC gives a shortest round-trip double when an operand is a decimal", async () => {
  assertEquals(await calc("CALC div 1.0 3"), "OK 0.3333333333333333");
  assertEquals(await calc("CALC add 0.1 0.2"), "OK 0.30000000000000004");
  assertEquals(await calc("CALC mul 1.5 -2e3"), "OK -3000");
  assertEquals(await calc("CALC add .5 1"), "OK 1.5");
});

Deno.test("CALC reports division by zero, bad numbers, bad operators and overflow", async () => {
  assertEquals(await calc("CALC div 1 0"), "ERR div-by-zero cannot divide by zero");
  assertEquals(await calc("CALC / 1.5 0.0"), "ERR div-by-zero cannot divide by zero");
  assertEquals(
    await calc("CALC pow 2 3"),
    'ERR bad-args unknown operator "pow": use add (+), subtract (sub, -), multiply (mul, *) or divide (div, /)',
  );
  assertEquals(
    await calc("CALC add 1 x"),
    'ERR bad-args "x" is not a number: use an integer (any length) or a decimal like 1.5 or -2e3',
  );
  assertEquals(await calc("CALC add 1"), "ERR bad-args CALC takes <op> <a> <b>, got 2 arguments");
  assertEquals(
    await calc("CALC add 1 2 3"),
    "ERR bad-args CALC takes <op> <a> <b>, got 4 arguments",
  );
  assertMatch(await calc("CALC mul 1e308 10"), /^ERR bad-args result is out of the range/);
  assertMatch(await calc("CALC add 1e999 1"), /^ERR bad-args "1e999" is out of the range/);
});

/** A stand-in for the worker threads that runs calc jobs here, and records them. */
function recordingWorkers(jobs: CalcJob[]) {
  return {
    run: (job: CalcJob) => {
      jobs.push(job);
      return Promise.resolve(runCalcJob(job));
    },
  } as unknown as Services["workers"];
}

Deno.test("CALC on operands of thousands of digits runs as a job on the worker threads, small ones never", async () => {
  const jobs: CalcJob[] = [];
  const context = testContext({ workers: recordingWorkers(jobs) });
  const big = "9".repeat(WORKER_OPERAND_CHARS / 2);
  assertEquals(await runLine(`CALC mul ${big} ${big}`, context), `OK ${BigInt(big) * BigInt(big)}`);
  assertEquals(jobs, [{ kind: "calc", op: "multiply", a: big, b: big }]);
  // What CALC refuses comes back from the worker as the same reply.
  assertEquals(
    await runLine(`CALC / ${big} 0${"0".repeat(WORKER_OPERAND_CHARS)}`, context),
    "ERR div-by-zero cannot divide by zero",
  );
  assertMatch(
    await runLine(`CALC + ${big} x${big}`, context),
    /^ERR bad-args "x9+…" is not a number/,
  );
  assertEquals(jobs.length, 3);
  // Below the threshold the serving thread answers: this context has no workers at all.
  const small = "9".repeat(WORKER_OPERAND_CHARS / 2 - 1);
  assertEquals(await calc(`CALC add ${small} ${small}`), `OK ${BigInt(small) * 2n}`);
});
