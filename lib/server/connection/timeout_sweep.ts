/**
 * The timeouts of a running connection (docs/server.md#server-options, docs/protocol.md#limits-and-bad-input: `--idle-timeout`,
 * `--request-timeout`, `--min-rate`) are checked by one sweep over the
 * running handlers, a few times per timeout, instead of a timer per
 * connection. Each handler decides for itself in `checkTimeouts` (its
 * reader knows whether it waits for a request, holds half a line or
 * receives a payload; its writer whether a reply is stuck).
 *
 * Why a sweep: a timer per connection was 7.7 % of the server's CPU profile
 * while it accepted 1000 connections at once (S4); with the sweep,
 * accepting a connection sets no timer at all. The sweep also starts the
 * clocks of the serve loop's reads and writes when it first sees them
 * waiting, so a request reads no clock (docs/performance.md#s1-where-the-time-goes).
 */
import { err, type LineReply } from "../../protocol/mod.ts";
import type { InputOverdue } from "./reader.ts";

/** Fewest milliseconds between sweeps, for tiny timeouts. */
const SWEEP_MIN_MS = 10;
/** Most milliseconds between sweeps: a timeout fires at most twice this late. */
const SWEEP_MAX_MS = 500;
/**
 * Sweeps per timeout. A timeout fires at most two sweeps late: the sweep
 * that first sees a read or write waiting starts its clock (up to one sweep
 * after it began), and the one that finds it overdue runs up to one sweep
 * after the deadline.
 */
const SWEEPS_PER_TIMEOUT = 16;

/**
 * How often the sweep runs for the shortest timeout: 16 times per timeout,
 * but at most every 10 ms and at least twice a second, so a timeout fires
 * at most 1/8 of itself (and at most 1 s) late (docs/protocol.md#commands).
 */
export function sweepMs(timeoutMs: number): number {
  return Math.max(SWEEP_MIN_MS, Math.min(SWEEP_MAX_MS, timeoutMs / SWEEPS_PER_TIMEOUT));
}

/** A handler the sweep can ask. */
export interface TimedHandler {
  checkTimeouts(now: number): void;
}

/**
 * Starts sweeping for `timeoutsMs` (those that are 0 are off; with none
 * on, nothing runs): `running()` lists the running handlers. Returns the
 * function that stops it.
 */
export function startTimeoutSweep(
  running: () => Iterable<TimedHandler>,
  timeoutsMs: readonly number[],
): () => void {
  const on = timeoutsMs.filter((ms) => ms > 0);
  if (on.length === 0) return () => {};
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const handler of running()) handler.checkTimeouts(now);
  }, sweepMs(Math.min(...on)));
  return () => clearInterval(sweep);
}

/** The limits an overdue peer is told about. */
export interface TimeoutLimits {
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  minRate: number;
}

/** The `ERR timeout` line a peer gets, closing, for what it is overdue on (`why`). */
export function timeoutReply(why: InputOverdue, limits: TimeoutLimits): LineReply {
  const { idleTimeoutMs, requestTimeoutMs, minRate } = limits;
  switch (why) {
    case "idle":
      return err("timeout", `no request for ${idleTimeoutMs / 1000} s; closing`);
    case "request":
      return err(
        "timeout",
        `request line not complete within ${requestTimeoutMs / 1000} s; closing`,
      );
    case "payload-idle":
      return err("timeout", `upload silent for ${idleTimeoutMs / 1000} s; closing`);
    case "payload":
      return err(
        "timeout",
        `upload slower than ${minRate} bytes/s over ${requestTimeoutMs / 1000} s; closing`,
      );
  }
}
