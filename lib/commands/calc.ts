/**
 * CALC: the lab's calculator (the arithmetic is arithmetic.ts). Operands
 * of a few thousand digits cost milliseconds to parse and print: those
 * calculations run on the worker threads (lib/jobs/calc_job.ts), the rest
 * here, where they take microseconds.
 */
import { keyword, ok, ProtocolError, type Reply } from "../protocol/mod.ts";
import { evaluate, type Operator, OPERATORS, QUOTIENT_DIGITS } from "../jobs/arithmetic.ts";
import { type Command, type CommandContext, expectArgs, truncate } from "./command.ts";
import { CALC_JOB_COST } from "../jobs/calc_job.ts";
import { declared } from "./catalog.ts";

const USAGE = "CALC takes <op> <a> <b>";
/**
 * Operand characters (both together) from which a CALC runs on a worker
 * thread. Two 32,700-digit integers took 10–13 ms to multiply on the
 * serving thread (parsing and printing the decimals, most of it): 8
 * clients looping on them held a bystander's PING at p50 74 ms, p99 100 ms;
 * on the workers, 0.3 and 5.4 ms (each client sending them back to back).
 * 4,000 characters cost about 0.3 ms, the price of a job's round trip.
 */
export const WORKER_OPERAND_CHARS = 4_000;

/** `CALC <op> <a> <b>`. */
export const CALC: Command = {
  ...declared("CALC"),
  usage: ["CALC <op> <a> <b>"],
  summary: "op: add|+ subtract|sub|- multiply|mul|* divide|div|/; integers exact, " +
    `a quotient that does not end cut after ${QUOTIENT_DIGITS} digits and ...`,
  run(request, context) {
    const args = request.args();
    expectArgs(args, { min: 3 }, USAGE);
    const [opWord, aWord, bWord] = args as [string, string, string];
    const op = OPERATORS.get(keyword(opWord));
    if (op === undefined) {
      throw new ProtocolError(
        "bad-args",
        `unknown operator "${
          truncate(opWord)
        }": use add (+), subtract (sub, -), multiply (mul, *) or divide (div, /)`,
      );
    }
    if (aWord.length + bWord.length >= WORKER_OPERAND_CHARS) {
      return calculateOnWorkers(context, op, aWord, bWord);
    }
    return ok(evaluate(op, aWord, bWord));
  },
};

/** A CALC on big operands, as a job on the worker threads. */
async function calculateOnWorkers(
  { services }: CommandContext,
  op: Operator,
  a: string,
  b: string,
): Promise<Reply> {
  const result = await services.workers.run({ kind: "calc", op, a, b }, { cost: CALC_JOB_COST });
  if (result.kind === "calculated") return ok(result.value);
  if (result.kind === "refused") throw new ProtocolError(result.code, result.message);
  throw new Error(`a calc job answered with a ${result.kind} result`);
}
