/**
 * How many arguments a command got, checked once for both programs: the
 * server's commands refuse a wrong count with `ERR bad-args`, the client's
 * subcommands with a UsageError carrying their usage.
 */
import { ProtocolError } from "./protocol/mod.ts";

/** `1 argument`, `2 arguments`. */
export function argumentCount(n: number): string {
  return `${n} argument${n === 1 ? "" : "s"}`;
}

/**
 * Returns if `args` has between `range.min` and `range.max` (default:
 * `min`) entries. Otherwise throws `refusal(count)`, or for a usage string
 * the protocol's `ERR bad-args <usage>, got <n> arguments`.
 */
export function expectArgs(
  args: readonly unknown[],
  range: { min: number; max?: number },
  refusal: string | ((count: number) => Error),
): void {
  const max = range.max ?? range.min;
  if (args.length >= range.min && args.length <= max) return;
  if (typeof refusal !== "string") throw refusal(args.length);
  throw new ProtocolError("bad-args", `${refusal}, got ${argumentCount(args.length)}`);
}
