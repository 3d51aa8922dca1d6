/**
 * SLOWLORIS (docs/protocol.md#limits-and-bad-input): 64 connections trickle a request line a
 * byte at a time and reconnect whenever they are cut, against a server with
 * the default 64 running slots. How long the first wave holds its slots
 * (target: every one closed within 2 × --request-timeout), then a
 * bystander's PING p99 while the trickling goes on (target < 10 ms).
 */
import { delay } from "@std/async/delay";
import { writeAll } from "../../../lib/io.ts";
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import { type BenchRow, millis, type Row } from "../row.ts";
import { PING } from "../servers.ts";

const SLOW_CONNECTIONS = 64;
/** Short, so the row takes seconds: the defence scales with it. */
const REQUEST_TIMEOUT_S = 2;
/** One byte this often: far below any request timeout's worth of a line. */
const BYTE_GAP_MS = 500;
const P99_TARGET_US = 10_000;
const BYSTANDERS = 10;

const encoder = new TextEncoder();

/** One slowloris peer: connects, trickles, reconnects when cut; reports when its first connection was cut. */
async function trickler(port: number, stop: () => boolean, firstCut: (ms: number) => void) {
  let first = true;
  while (!stop()) {
    const started = performance.now();
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      await delay(BYTE_GAP_MS);
      continue;
    }
    const cut = (async () => {
      const buf = new Uint8Array(256);
      while (await conn.read(buf).catch(() => null) !== null) { /* the ERR timeout line */ }
    })();
    let closed = false;
    cut.then(() => closed = true);
    for (let i = 0; !closed && !stop(); i++) {
      await writeAll(conn, encoder.encode("ECHO never ends "[i % 16]!)).catch(() => {});
      await delay(BYTE_GAP_MS);
    }
    if (first && closed) firstCut(performance.now() - started);
    first = false;
    try {
      conn.close();
    } catch { /* already closed */ }
    await cut;
  }
}

/** SLOWLORIS: bystander PING p99 while 64 connections trickle and reconnect. */
export const SLOWLORIS: BenchRow = {
  id: "SLOWLORIS",
  about: "bystander PING p99 during a 64-connection slowloris (--request-timeout 2)",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    progress("slowloris");
    await using server = await startServer(context, "switchboard", {
      args: ["--request-timeout", String(REQUEST_TIMEOUT_S)],
    });
    let stop = false;
    const cuts: number[] = [];
    const peers = Array.from(
      { length: SLOW_CONNECTIONS },
      () => trickler(server.port, () => stop, (ms) => cuts.push(ms)),
    );
    try {
      // The bystanders queue behind the first wave; the warmup covers their admission.
      const result = await runLoad(context, server, {
        connections: BYSTANDERS,
        warmupS: 3 * REQUEST_TIMEOUT_S,
        ...PING.switchboard,
      });
      const slowest = Math.max(...cuts);
      const cleared = cuts.length === SLOW_CONNECTIONS && slowest <= 2 * REQUEST_TIMEOUT_S * 1000;
      return {
        scenario: "bystander PING p99 during a 64-connection slowloris (--request-timeout 2)",
        switchboard: `p99 ${millis(result.p99)}, ${result.replied}/${BYSTANDERS} bystanders; ` +
          `first wave cut after ${(Math.min(...cuts) / 1000).toFixed(1)}–${
            (slowest / 1000).toFixed(1)
          } s (${cuts.length}/${SLOW_CONNECTIONS})`,
        deno: "",
        node: "",
        ratio: "",
        target: "p99 < 10 ms; all cut within 4 s",
        met: result.p99 < P99_TARGET_US && cleared,
      };
    } finally {
      stop = true;
      await Promise.all(peers);
    }
  },
};
