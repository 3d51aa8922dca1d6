/**
 * CALC's arithmetic, made exact: integers of any length are BigInts, so
 * add, subtract and multiply are exact, and so is a quotient of integers
 * (cut after {@linkcode QUOTIENT_DIGITS} fraction digits, marked `...`,
 * when it does not terminate); anything with a decimal operand is a double
 * printed in JavaScript's shortest round-trip form (docs/protocol.md#commands "Numbers"). Pure, so that it runs the same on the serving
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
      return exactQuotient(a, b);
  }
}

/**
 * Fraction digits a quotient of integers that does not terminate is cut
 * after (then `...` marks the cut): enough to show any repeating block a
 * person would check by hand, and a bound on the reply however small the
 * divisor's factors make the digits.
 */
export const QUOTIENT_DIGITS = 50;

/**
 * a / b (b not 0) in decimal, exact when it terminates (the reduced divisor
 * has no prime factor but 2 and 5); otherwise the first
 * {@linkcode QUOTIENT_DIGITS} fraction digits, truncated, then `...`.
 */
function exactQuotient(a: bigint, b: bigint): string {
  const negative = (a < 0n) !== (b < 0n);
  let numerator = a < 0n ? -a : a;
  let divisor = b < 0n ? -b : b;
  const common = gcd(numerator, divisor);
  numerator /= common;
  divisor /= common;
  // The digits of n/d end after max(twos, fives) places exactly when d = 2^twos × 5^fives.
  const [odd, twos] = withoutFactor(divisor, 2n);
  const [rest, fives] = withoutFactor(odd, 5n);
  const terminates = rest === 1n;
  const places = terminates ? Math.max(twos, fives) : QUOTIENT_DIGITS;
  const scaled = String(numerator * 10n ** BigInt(places) / divisor).padStart(places + 1, "0");
  const whole = scaled.slice(0, scaled.length - places);
  const fraction = scaled.slice(scaled.length - places);
  const digits = places === 0 ? whole : `${whole}.${fraction}`;
  const sign = negative && numerator !== 0n ? "-" : "";
  return `${sign}${digits}${terminates ? "" : "..."}`;
}

/**
 * `n` without its factors `p`, and how many there were. Dividing by p, p²,
 * p⁴ … on the way down and back takes log(count) divisions, where one
 * division per factor would take 93,000 for a divisor of 5^93,000 (65,000
 * digits, a whole request line).
 */
function withoutFactor(n: bigint, p: bigint): [bigint, number] {
  if (n % p !== 0n) return [n, 0];
  const [rest, pairs] = withoutFactor(n, p * p);
  return rest % p === 0n ? [rest / p, 2 * pairs + 1] : [rest, 2 * pairs];
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
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
    }" is out of the range of a double (about ±1.8e308); integers are exact at any size`,
  );
}
