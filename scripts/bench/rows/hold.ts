/**
 * HOLD (docs/performance.md): 100,000 connections held at once
 * (--max-running 64, the rest queued), opened from 127.0.0.2, .3, … by
 * holder processes (one source address has about 28,000 ports). Measured:
 * the server's RSS with all of them waiting, that the next connection gets
 * `ERR busy`, and the admission gap (QUIT of a running client → the reply
 * of the first queued one) while they wait. A machine whose descriptor
 * limit cannot hold 100,000 holds as many as fit, and the row says so.
 */
import { delay } from "@std/async/delay";
import { type BenchContext, progress, startServer } from "../context.ts";
import { writeAll } from "../../../lib/io.ts";
import { type BenchRow, count, mebibytes, type Row } from "../row.ts";
import { DENO, memory, output, REPO_ROOT } from "../system.ts";

const MiB = 1024 ** 2;
const CONNECTIONS = 100_000;
const QUICK_CONNECTIONS = 5_000;
const RUNNING = 64;
/** Queued clients of the row's own, first in line, whose replies time the hand-overs. */
const HAND_OVERS = 20;
/** Descriptors left to the server's own files, listeners and worker threads. */
const SERVER_RESERVE = 500;
/** Connections per holder process (and per source address: its ports run out near 28,000). */
const PER_HOLDER = 19_000;
const RSS_TARGET = 1024 * MiB;
const GAP_TARGET_MS = 5;
/** How long the server may take to accept every held connection. */
const ACCEPT_DEADLINE_MS = 60_000;
const HOLDER = `${REPO_ROOT}/scripts/bench/holder.ts`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The hard limit on open files, which the server inherits (asked of a
 * shell: Deno reads no /proc/self without --allow-all).
 */
async function descriptorLimit(): Promise<number> {
  const hard = Number((await output("sh", ["-c", "ulimit -Hn"])).out.trim());
  return Number.isSafeInteger(hard) ? hard : Infinity;
}

/** How many descriptors `pid` has open (Linux; listed by ls, as /proc is read elsewhere). */
async function openDescriptors(pid: number): Promise<number> {
  return (await output("ls", [`/proc/${pid}/fd`])).out.split("\n").filter((l) => l !== "").length;
}

/** Reads one reply line from `conn`; resolves with it and the time it arrived. */
async function readLine(conn: Deno.TcpConn): Promise<{ line: string; at: number }> {
  const buffer = new Uint8Array(256);
  let text = "";
  while (!text.includes("\n")) {
    const got = await conn.read(buffer);
    if (got === null) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += decoder.decode(buffer.subarray(0, got));
  }
  return { line: text.slice(0, text.indexOf("\n")), at: performance.now() };
}

/** A holder process with `wanted` idle connections from `from`; resolves once they are open. */
async function startHolder(port: number, from: string, wanted: number) {
  const child = new Deno.Command(DENO, {
    args: ["run", "--allow-net", HOLDER, String(port), from, String(wanted)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`holder from ${from} ended before opening its connections`);
    text += value;
  }
  const opened = JSON.parse(text.slice(0, text.indexOf("\n"))) as {
    opened: number;
    failed: number;
  };
  return {
    opened,
    async [Symbol.asyncDispose]() {
      await child.stdin.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** HOLD: 100,000 connections waiting at once. */
export const HOLD: BenchRow = {
  id: "HOLD",
  about: `${count(CONNECTIONS)} connections held (64 running, the rest queued): RSS, ERR busy, gap`,
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    const limit = await descriptorLimit();
    const wanted = context.options.quick ? QUICK_CONNECTIONS : CONNECTIONS;
    const held = Math.min(wanted, limit - SERVER_RESERVE);
    progress(`${count(held)} held connections (descriptor limit ${count(limit)})`);
    await using server = await startServer(context, "switchboard", {
      args: [
        "--insecure", // the holders connect from 127.0.0.2 and up: not local
        "--max-running",
        String(RUNNING),
        "--queue-limit",
        String(held - RUNNING),
      ],
    });
    const base = await memory(server.pid, "VmRSS");
    const connect = () => Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const mine: Deno.TcpConn[] = [];
    const holders: AsyncDisposable[] = [];
    try {
      // The running set: 64 clients of the row's own, each answered (so running).
      const running: Deno.TcpConn[] = [];
      for (let i = 0; i < RUNNING; i++) {
        const conn = await connect();
        mine.push(conn);
        running.push(conn);
        await writeAll(conn, encoder.encode("PING\n"));
        await readLine(conn);
      }
      // First in the queue: clients with a PING sent, answered only at a hand-over.
      const waiting: Deno.TcpConn[] = [];
      for (let i = 0; i < HAND_OVERS; i++) {
        const conn = await connect();
        mine.push(conn);
        waiting.push(conn);
        await writeAll(conn, encoder.encode("PING\n"));
      }
      // The rest of the queue: idle connections from other addresses.
      let opened = RUNNING + HAND_OVERS;
      for (let i = 0; opened < held; i++) {
        const batch = Math.min(PER_HOLDER, held - opened);
        const holder = await startHolder(server.port, `127.0.0.${2 + i}`, batch);
        holders.push(holder);
        opened += holder.opened.opened;
        if (holder.opened.failed > 0) {
          throw new Error(`${holder.opened.failed} connections from 127.0.0.${2 + i} failed`);
        }
        progress(`  ${count(opened)} open`);
      }
      // Open on the client side is not yet accepted: wait until the server has them all.
      const deadline = Date.now() + ACCEPT_DEADLINE_MS;
      while (await openDescriptors(server.pid) < held) {
        if (Date.now() > deadline) {
          throw new Error(
            `the server accepted ${await openDescriptors(server.pid)} descriptors of ${held}`,
          );
        }
        await delay(200);
      }
      const rss = await memory(server.pid, "VmRSS");
      // One more than the Manager holds: turned away at once.
      const extra = await connect();
      mine.push(extra);
      const refusal = (await readLine(extra)).line;
      // Hand-overs with every place taken.
      const gaps: number[] = [];
      for (let i = 0; i < HAND_OVERS; i++) {
        const pong = readLine(waiting[i]!);
        await writeAll(running[i]!, encoder.encode("QUIT\n"));
        const bye = await readLine(running[i]!);
        gaps.push((await pong).at - bye.at);
      }
      gaps.sort((a, b) => a - b);
      const p99 = gaps[Math.ceil(0.99 * gaps.length) - 1]!;
      const busy = refusal.startsWith("ERR busy");
      const perConnection = (rss - base) / held;
      progress(`  RSS ${mebibytes(rss)}, next: ${refusal}, gap max ${p99.toFixed(2)} ms`);
      return {
        scenario: `${count(held)} connections held (64 running, rest queued)${
          held < wanted ? `: the descriptor limit (${count(limit)}) holds no more` : ""
        }`,
        switchboard:
          `RSS ${mebibytes(rss)} (${mebibytes(base)} + ${
            (perConnection / 1024).toFixed(1)
          } KiB each); ` +
          `next ${busy ? "ERR busy" : JSON.stringify(refusal)}; gap p50 ${
            gaps[gaps.length >> 1]!.toFixed(2)
          } ms, p99 ${p99.toFixed(2)} ms`,
        deno: "",
        node: "",
        ratio: held < CONNECTIONS
          ? `${count(CONNECTIONS)} at that rate: ~${
            mebibytes(base + perConnection * CONNECTIONS)
          } (not measured)`
          : "",
        target: `${count(CONNECTIONS)} held, RSS < 1 GiB, ERR busy, gap p99 < ${GAP_TARGET_MS} ms`,
        met: held === CONNECTIONS && rss < RSS_TARGET && busy && p99 < GAP_TARGET_MS,
      };
    } finally {
      for (const conn of mine) conn.close();
      for (const holder of holders) await holder[Symbol.asyncDispose]();
    }
  },
};
