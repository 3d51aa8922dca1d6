/**
 * COUNTFAIR (docs/protocol.md#commands): with one worker thread busy on
 * `COUNT 0 60 1000` (a minute of work), how long another client's
 * `COUNT 0 1 0` takes. First-come-first-served made it wait for the whole
 * minute; with turns and 10 ms slices it waits about one slice.
 */
import { delay } from "@std/async/delay";
import { writeAll } from "../../../lib/io.ts";
import { ReplyReader } from "../../../lib/protocol/mod.ts";
import { type BenchContext, progress, startServer } from "../context.ts";
import type { BenchRow, Row } from "../row.ts";

const SAMPLES = 50;
const QUICK_SAMPLES = 10;
/** Time for the long COUNT's first jobs to reach the worker. */
const START_MS = 300;
const TARGET_MS = 50;

const encoder = new TextEncoder();

/** COUNTFAIR: COUNT 0 1 0 behind COUNT 0 60 1000 with --workers 1. */
export const COUNTFAIR: BenchRow = {
  id: "COUNTFAIR",
  about: "COUNT 0 1 0 behind COUNT 0 60 1000 with --workers 1",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    progress("a short COUNT behind a long one");
    await using server = await startServer(context, "switchboard", {
      args: ["--workers", "1", "--drain-timeout", "1"],
      cpu: "unpinned",
    });
    const long = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(long, encoder.encode("COUNT 0 60 1000\n"));
    await delay(START_MS);
    const short = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    short.setNoDelay(true);
    const replies = new ReplyReader(short);
    const times: number[] = [];
    try {
      for (let i = 0; i < (context.options.quick ? QUICK_SAMPLES : SAMPLES); i++) {
        const started = performance.now();
        await writeAll(short, encoder.encode("COUNT 0 1 0\n"));
        const reply = await replies.read();
        times.push(performance.now() - started);
        if (reply.kind !== "ok") throw new Error(`COUNT answered ${JSON.stringify(reply)}`);
      }
    } finally {
      short.close();
      long.close();
    }
    times.sort((a, b) => a - b);
    const max = times.at(-1)!;
    return {
      scenario: "COUNT 0 1 0 behind COUNT 0 60 1000 with --workers 1",
      switchboard: `p50 ${times[Math.floor(times.length / 2)]!.toFixed(1)} ms, max ${
        max.toFixed(1)
      } ms (${times.length} runs)`,
      deno: "",
      node: "",
      ratio: "first-come-first-served: ~60 s",
      target: `< ${TARGET_MS} ms`,
      met: max < TARGET_MS,
    };
  },
};
