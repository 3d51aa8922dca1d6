/**
 * COUNT (docs/performance.md): the PING p99 of 10 clients, alone and while
 * `COUNT 0 1000 50` keeps the worker threads busy. switchboard only.
 */
import { delay } from "@std/async/delay";
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import type { Load } from "../load.ts";
import { type BenchRow, count, millis, type Row, times } from "../row.ts";
import { PING } from "../servers.ts";
import { writeAll } from "../../../lib/io.ts";

/** Time for COUNT's jobs to reach the worker threads before the second load starts. */
const COUNT_START_MS = 500;
/** The target's p99, in µs. */
const P99_TARGET_US = 10_000;

/** COUNT: PING p99 while COUNT 0 1000 50 runs. */
export const COUNT: BenchRow = {
  id: "COUNT",
  about: "PING p99 of 10 clients while COUNT 0 1000 50 runs",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    progress("PING while COUNT runs");
    // Not pinned: the worker threads need the other cores, as in production.
    await using server = await startServer(context, "switchboard", { cpu: "unpinned" });
    const load: Load = { connections: 10, cpu: "unpinned", ...PING.switchboard };
    const alone = await runLoad(context, server, load);
    const counter = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(counter, new TextEncoder().encode("COUNT 0 1000 50\n"));
    await delay(COUNT_START_MS);
    const busy = await runLoad(context, server, load);
    counter.close(); // cancels the jobs still queued
    return {
      scenario: "PING p99 of 10 clients while COUNT 0 1000 50 runs",
      switchboard: `p99 ${millis(busy.p99)} (alone: ${millis(alone.p99)}); ${
        count(busy.rps)
      } PING/s`,
      deno: "",
      node: "",
      ratio: `${times(busy.p99, alone.p99)} of idle p99`,
      target: "p99 < 10 ms",
      met: busy.p99 < P99_TARGET_US,
    };
  },
};
