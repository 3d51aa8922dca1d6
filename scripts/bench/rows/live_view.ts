/**
 * LIVE (docs/observability.md#live-view): S1's load on one server with
 * `--metrics-port`, measured with the live page's event stream closed and
 * open (a viewer reading every sample, as the page does), interleaved,
 * repetitions as for S1. The page is sampled on a timer, never per request,
 * so throughput and PING p99 should stay within noise: the ratios are
 * open ÷ closed within the one run.
 *
 * LIVEQ: the same with two network threads and 10,000 more connections
 * held open and idle (2,000 with --quick): a sample shows 500 rows, and
 * what the threads gather for it must not grow with the crowd.
 */
import { delay } from "@std/async/delay";
import { writeAll } from "../../../lib/io.ts";
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import type { LoadResult } from "../load.ts";
import { type BenchRow, count, millis, type Row, times } from "../row.ts";
import { PING } from "../servers.ts";
import { freePort } from "../system.ts";

/** Open ÷ closed throughput at least this: the page costs no more than the run-to-run noise. */
const THROUGHPUT_TARGET = 0.95;
/** Open ÷ closed PING p99 at most this. */
const P99_TARGET = 1.25;

const encoder = new TextEncoder();

/** A viewer of `/events` on `port` that reads (and drops) every sample until disposed. */
async function openViewer(port: number): Promise<AsyncDisposable & { samples: () => number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, encoder.encode("GET /events HTTP/1.1\r\nhost: bench\r\n\r\n"));
  let samples = 0;
  const reading = (async () => {
    const buffer = new Uint8Array(1 << 16);
    const decoder = new TextDecoder();
    // Each event starts a line with `data: `; the last 6 characters carry over, since a
    // read may end inside the marker (and cannot hold a whole one, so none counts twice).
    let tail = "";
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        const text = tail + decoder.decode(buffer.subarray(0, n), { stream: true });
        samples += text.split("\ndata: ").length - 1;
        tail = text.slice(-6);
      }
    } catch {
      // Closed on dispose.
    }
  })();
  return {
    samples: () => samples,
    async [Symbol.asyncDispose]() {
      conn.close();
      await reading;
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The crowd LIVEQ holds open beside the load, and how many connections are opened at once. */
const CROWD = { full: 10_000, quick: 2_000, batch: 500 } as const;

/** `count` idle connections to `port`, opened in batches (the listen backlog), closed on dispose. */
async function openCrowd(port: number, count: number): Promise<Disposable> {
  const conns: Deno.TcpConn[] = [];
  const closeAll = () => conns.forEach((conn) => conn.close());
  try {
    for (let i = 0; i < count; i += CROWD.batch) {
      const batch = Array.from(
        { length: Math.min(CROWD.batch, count - i) },
        () => Deno.connect({ hostname: "127.0.0.1", port }),
      );
      conns.push(...await Promise.all(batch));
    }
  } catch (error) {
    closeAll();
    throw error;
  }
  return { [Symbol.dispose]: closeAll };
}

/** S1 with the live page closed, then open, interleaved; with `crowd` idle connections held beside it. */
async function liveRow(
  context: BenchContext,
  options: { scenario: string; args: string[]; crowd: number },
): Promise<Row> {
  const metricsPort = freePort();
  await using server = await startServer(context, "switchboard", {
    args: ["--metrics-port", String(metricsPort), ...options.args],
  });
  if (options.crowd > 0) progress(`live view: ${options.crowd} idle connections`);
  using _crowd = await openCrowd(server.port, options.crowd);
  const load = { connections: 50, ...PING.switchboard };
  const closed: LoadResult[] = [];
  const open: LoadResult[] = [];
  let samples = 0;
  for (let rep = 0; rep < context.options.reps; rep++) {
    progress(`live view: S1, page closed (${rep + 1}/${context.options.reps})`);
    closed.push(await runLoad(context, server, load));
    progress(`live view: S1, page open (${rep + 1}/${context.options.reps})`);
    await using viewer = await openViewer(metricsPort);
    await delay(300); // the stream's first samples are flowing before the window
    open.push(await runLoad(context, server, load));
    samples += viewer.samples();
  }
  const rps = (results: LoadResult[]) => median(results.map((r) => r.rps));
  const p99 = (results: LoadResult[]) => median(results.map((r) => r.p99));
  const throughputRatio = rps(open) / rps(closed);
  const p99Ratio = p99(open) / p99(closed);
  return {
    scenario: options.scenario,
    switchboard: `open ${count(rps(open))} req/s, PING p99 ${millis(p99(open))} ` +
      `(${samples} samples read)`,
    deno: `closed ${count(rps(closed))} req/s, PING p99 ${millis(p99(closed))}`,
    node: "",
    ratio: `throughput ${times(rps(open), rps(closed))}, p99 ${times(p99(open), p99(closed))}`,
    target: `throughput ≥ ${THROUGHPUT_TARGET}×, p99 ≤ ${P99_TARGET}×`,
    met: throughputRatio >= THROUGHPUT_TARGET && p99Ratio <= P99_TARGET,
  };
}

/** LIVE: S1 with the live page closed, then open, interleaved. */
export const LIVE: BenchRow = {
  id: "LIVE",
  about: "S1 with the live page open vs closed (ratios)",
  compares: false,
  run: (context) =>
    liveRow(context, {
      scenario: "LIVE: S1 with the live page open (5 samples/s) vs closed",
      args: [],
      crowd: 0,
    }),
};

/** LIVEQ: LIVE on two threads beside 10,000 idle connections. */
export const LIVEQ: BenchRow = {
  id: "LIVEQ",
  about: `LIVE with --threads 2 and ${count(CROWD.full)} idle connections held open (ratios)`,
  compares: false,
  run: (context) => {
    const crowd = context.options.quick ? CROWD.quick : CROWD.full;
    return liveRow(context, {
      scenario: `LIVEQ: LIVE with --threads 2 beside ${count(crowd)} idle connections`,
      // Every connection runs (idle), the load's too: the crowd must not take the load's slots.
      args: ["--threads", "2", "--max-running", String(crowd + 100), "--idle-timeout", "0"],
      crowd,
    });
  },
};
