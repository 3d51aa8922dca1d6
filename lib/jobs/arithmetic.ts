/**
 * CALC's arithmetic, made exact: integers of any length are BigInts, so
 * add, subtract, multiply and a divide that comes out whole are exact;
 * anything else is a double printed in JavaScript's shortest round-trip
 * form (docs/protocol.md#commands "Numbers"). Pure, so that it runs the same on the serving
 * thread (small operands) and on a worker thread (lib/jobs/calc_job.ts).
 */
import { INTEGER_WORD as INTEGER, ProtocolError } from "../protocol/mod.ts";
import { truncate } from "../escape.ts";

/** A CALC operator. */
export type Operator = "add" | "subtract" | "multiply" | "divide";

/** Every spelling of every operator, upper-cased: looked up as a {@linkcode keyword}. */
export const OPERATORS: ReadonlyMap<string, Operator> = new Map([
  ["ADD", "add"],
  ["+", "add"],
  ["SUBTRACT", "subtract"],
  ["SUB", "subtract"],
  ["-", "subtract"],
  ["MULTIPLY", "multiply"],
  ["MUL", "multiply"],
  ["*", "multiply"],
  ["DIVIDE", "divide"],
  ["DIV", "divide"],
  ["/", "divide"],
]);

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A parsed operand: exact when it is an integer. */
type Operand = { exact: bigint } | { approx: number };

/**
 * `a` `op` `b`, as CALC answers it; throws a ProtocolError (bad-args,
 * div-by-zero) for what CALC refuses.
 */
export function evaluate(op: Operator, aWord: string, bWord: string): string {
  const a = parseOperand(aWord);
  const b = parseOperand(bWord);
  if ("exact" in a && "exact" in b) return exactResult(op, a.exact, b.exact);
  return formatDouble(applyDouble(op, toNumber(a), toNumber(b)));
}

function exactResult(op: Operator, a: bigint, b: bigint): string {
  switch (op) {
    case "add":
      return String(a + b);
    case "subtract":
      return String(a - b);
    case "multiply":
      return String(a * b);
    case "divide":
      if (b === 0n) throw new ProtocolError("div-by-zero", "cannot divide by zero");
      if (a % b === 0n) return String(a / b);
      return formatDouble(divideBigInts(a, b));
  }
}

function applyDouble(op: Operator, a: number, b: number): number {
  switch (op) {
    case "add":
      return a + b;
    case "subtract":
      return a - b;
    case "multiply":
      return a * b;
    case "divide":
      if (b === 0) throw new ProtocolError("div-by-zero", "cannot divide by zero");
      return a / b;
  }
}

function parseOperand(word: string): Operand {
  if (INTEGER.test(word)) return { exact: BigInt(word) };
  if (DECIMAL.test(word)) {
    const value = Number(word);
    if (!Number.isFinite(value)) throw outOfRange(word);
    return { approx: value };
  }
  throw new ProtocolError(
    "bad-args",
    `"${
      truncate(word)
    }" is not a number: use an integer (any length) or a decimal like 1.5 or -2e3`,
  );
}

function toNumber(operand: Operand): number {
  if ("approx" in operand) return operand.approx;
  const value = Number(operand.exact);
  if (!Number.isFinite(value)) throw outOfRange(String(operand.exact));
  return value;
}

/**
 * a / b as a correctly rounded double for integers of any size. Converting
 * each side to a double first would overflow past 1e308 and round twice;
 * instead the BigInt quotient is scaled to ~66 significant bits, with a
 * sticky low bit standing for any remainder, so Number() rounds exactly once.
 */
function divideBigInts(a: bigint, b: bigint): number {
  const negative = (a < 0n) !== (b < 0n);
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  const shift = 66 - (bitLength(x) - bitLength(y));
  if (shift > 0) x <<= BigInt(shift);
  else y <<= BigInt(-shift);
  let quotient = x / y;
  if (quotient * y !== x) quotient |= 1n;
  // Scale back in two steps: 2 ** -shift alone may overflow where the product does not.
  const half = Math.trunc(shift / 2);
  const value = Number(quotient) * 2 ** -half * 2 ** -(shift - half);
  return negative ? -value : value;
}

function bitLength(n: bigint): number {
  return (n < 0n ? -n : n).toString(2).length;
}

function formatDouble(value: number): string {
  if (!Number.isFinite(value)) {
    throw new ProtocolError("bad-args", "result is out of the range of a double (about ±1.8e308)");
  }
  return String(value);
}

function outOfRange(word: string): ProtocolError {
  return new ProtocolError(
    "bad-args",
    `"${
      truncate(word)
    }" is out of the range of a double (about ±1.8e308); only integers are exact at any size`,
  );
}
