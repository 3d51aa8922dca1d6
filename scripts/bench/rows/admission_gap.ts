/**
 * The admission gap (docs/performance.md): with --max-running 1, client B waits with a
 * request sent while A holds the only slot; A QUITs; the time from A's
 * "OK bye" to B's reply is how long the Manager takes to hand the slot
 * over. switchboard only: the echoes have no Manager. GAPT measures it with
 * --threads 2, where the slot often crosses threads.
 */
import { delay } from "@std/async/delay";
import { type BenchContext, progress, startServer } from "../context.ts";
import { writeAll } from "../../../lib/io.ts";
import type { BenchRow, Row } from "../row.ts";
import { SERVER_CPU } from "../servers.ts";
import type { Cpu } from "../system.ts";

const HAND_OVERS = 300;
const QUICK_HAND_OVERS = 50;
/** Long enough for B to be accepted and queued behind A before A quits. */
const QUEUE_SETTLE_MS = 2;
/** The target's p99, in ms. */
const P99_TARGET_MS = 5;
const REPLY_BUFFER_BYTES = 256;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connected client with Nagle off, as the generators use. */
async function connect(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  return conn;
}

/** Reads up to a line feed; when it arrived (performance.now()). */
async function readLine(conn: Deno.TcpConn): Promise<number> {
  const buffer = new Uint8Array(REPLY_BUFFER_BYTES);
  let text = "";
  while (!text.includes("\n")) {
    const got = await conn.read(buffer);
    if (got === null) throw new Error("closed");
    text += decoder.decode(buffer.subarray(0, got));
  }
  return performance.now();
}

/** A gap row: `id`, the server started with --max-running 1 and `args`, on `cpu`. */
function gapRow(id: string, options: { args: string[]; cpu: Cpu; label: string }): BenchRow {
  const scenario = `admission gap (--max-running 1${options.label}), QUIT → next reply`;
  return {
    id,
    about: scenario,
    compares: false,
    async run(context: BenchContext): Promise<Row> {
      progress(scenario);
      await using server = await startServer(context, "switchboard", {
        args: ["--max-running", "1", ...options.args],
        cpu: options.cpu,
      });
      const gaps: number[] = [];
      let a = await connect(server.port);
      await writeAll(a, encoder.encode("PING\n"));
      await readLine(a);
      for (let i = 0; i < (context.options.quick ? QUICK_HAND_OVERS : HAND_OVERS); i++) {
        const b = await connect(server.port);
        await writeAll(b, encoder.encode("PING\n"));
        await delay(QUEUE_SETTLE_MS);
        const pong = readLine(b);
        await writeAll(a, encoder.encode("QUIT\n"));
        const bye = await readLine(a);
        gaps.push(await pong - bye);
        a.close();
        a = b; // B now holds the slot
      }
      a.close();
      gaps.sort((p, q) => p - q);
      const p = (q: number) => gaps[Math.min(gaps.length - 1, Math.ceil(q * gaps.length) - 1)]!;
      return {
        scenario,
        switchboard: `p50 ${p(0.5).toFixed(2)} ms, p99 ${
          p(0.99).toFixed(2)
        } ms (${gaps.length} hand-overs)`,
        deno: "(no Manager)",
        node: "(no Manager)",
        ratio: `lab Manager: up to 1000 ms`,
        target: `p99 < ${P99_TARGET_MS} ms`,
        met: p(0.99) < P99_TARGET_MS,
      };
    },
  };
}

/** GAP: QUIT → the next client's reply, --max-running 1, one network thread on the server's core. */
export const GAP: BenchRow = gapRow("GAP", { args: [], cpu: SERVER_CPU, label: "" });

/**
 * GAPT: the same with --threads 2, unpinned: B lands on either thread, so
 * about half the hand-overs cross threads (grant signal and Atomics.waitAsync).
 */
export const GAPT: BenchRow = gapRow("GAPT", {
  args: ["--threads", "2"],
  cpu: "unpinned",
  label: ", --threads 2",
});
