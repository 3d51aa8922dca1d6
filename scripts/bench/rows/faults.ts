/**
 * FAULTS (docs/protocol.md#limits-and-bad-input): a bounded storm of what a hostile or unlucky
 * network sends — connections reset right after their first bytes,
 * garbage (invalid UTF-8, NUL, lines past --max-line), connections that
 * open and say nothing, and clients that pipeline without ever reading —
 * while a bystander's PING p99 is measured (target < 50 ms) and the
 * server's RSS watched (target: growth < 128 MiB). Then the server is
 * paused while 1,000 connections reset in its accept queue, and the next
 * client's first reply is timed (target < 100 ms). Through the storm, 70
 * connections hold the metrics port without a request while 20 `/healthz`
 * probes must each get `200` (before the oldest idle one was replaced, all 20 were closed unanswered).
 */
import { writeAll } from "../../../lib/io.ts";
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import { type BenchRow, mebibytes, millis, type Row } from "../row.ts";
import { PING } from "../servers.ts";
import { freePort, memory } from "../system.ts";
import { sendAndReset } from "../peers.ts";

const MiB = 1024 ** 2;
const BYSTANDERS = 10;
const P99_TARGET_US = 50_000;
const RSS_GROWTH_TARGET = 128 * MiB;
/** Of each kind of storm, at once. */
const RESETTERS = 50;
const GARBAGE = 20;
const SILENT = 100;
const NON_READERS = 20;
/**
 * Connections reset in the accept queue while the server is paused, in
 * rounds that fit Deno's listen backlog (511): a SYN past the backlog is
 * dropped and retried by the kernel a second later, which would time the
 * kernel, not the server.
 */
const QUEUED_RESETS = 1000;
const RESETS_PER_PAUSE = 500;
const NEXT_REPLY_TARGET_MS = 100;
const MAX_LINE = 4096;
/** Idle connections held on the metrics port, more than the 64 it keeps open. */
const METRICS_HOLDERS = 70;
/** Health checks sent while they are held; every one must be answered 200. */
const HEALTH_PROBES = 20;

const encoder = new TextEncoder();

/** Random bytes with the LF kept rare, the invalid and the NUL kept common. */
function garbage(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(64 + Math.floor(Math.random() * 8192)));
  for (let i = 0; i < bytes.length; i += 97) bytes[i] = 10;
  return bytes;
}

/** Runs `once` again and again until `stop()`, at most `parallel` at a time. */
async function repeat(parallel: number, stop: () => boolean, once: () => Promise<void>) {
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (!stop()) await once().catch(() => {});
  }));
}

/** A client that pipelines ECHOs of 1 KB and never reads a reply, until `stop()`. */
async function nonReader(port: number, stop: () => boolean): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const line = encoder.encode(`ECHO ${"x".repeat(1000)}\n`.repeat(16));
  try {
    while (!stop()) await writeAll(conn, line);
  } catch {
    // cut by the server: a peer that does not read costs its buffer, then its connection
  } finally {
    conn.close();
  }
}

/** Connect → first reply of a new client, in ms. */
async function firstReplyMs(port: number): Promise<number> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, encoder.encode("PING\n"));
    await conn.read(new Uint8Array(64));
    return performance.now() - started;
  } finally {
    conn.close();
  }
}

/** FAULTS: a bystander's p99 and the RSS through a storm; the first reply after 1,000 queued resets. */
export const FAULTS: BenchRow = {
  id: "FAULTS",
  about: "bystander p99 and RSS during a storm of resets, garbage, silence, non-readers",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    progress("fault storm");
    const metricsPort = freePort();
    await using server = await startServer(context, "switchboard", {
      args: [
        "--max-running",
        "512",
        "--max-line",
        String(MAX_LINE),
        "--request-timeout",
        "5",
        "--metrics-port",
        String(metricsPort),
      ],
    });
    const before = await memory(server.pid, "VmRSS");
    let stop = false;
    const silent = await Promise.all(
      Array.from(
        { length: SILENT },
        () => Deno.connect({ hostname: "127.0.0.1", port: server.port }),
      ),
    );
    const storm = Promise.all([
      repeat(
        RESETTERS,
        () => stop,
        () => sendAndReset(server.port, encoder.encode("PING\nKV GET x\n")),
      ),
      repeat(GARBAGE, () => stop, () => sendAndReset(server.port, garbage())),
      ...Array.from({ length: NON_READERS }, () => nonReader(server.port, () => stop)),
    ]);
    let result;
    let healthy = 0;
    try {
      [result, healthy] = await Promise.all([
        runLoad(context, server, { connections: BYSTANDERS, ...PING.switchboard }),
        healthChecksPastIdleHolders(metricsPort),
      ]);
    } finally {
      stop = true;
      await storm;
      for (const conn of silent) conn.close();
    }
    const peak = await memory(server.pid, "VmHWM");
    progress("1,000 resets in the accept queue");
    let next = 0;
    for (let done = 0; done < QUEUED_RESETS; done += RESETS_PER_PAUSE) {
      server.process.kill("SIGSTOP");
      try {
        for (let i = 0; i < RESETS_PER_PAUSE; i += 100) {
          await Promise.all(
            Array.from({ length: 100 }, () => sendAndReset(server.port, encoder.encode("PING\n"))),
          );
        }
      } finally {
        server.process.kill("SIGCONT");
      }
      next = Math.max(next, await firstReplyMs(server.port));
    }
    const growth = peak - before;
    return {
      scenario: "fault storm: bystander PING p99, RSS growth; next reply after 1,000 queued resets",
      switchboard: `p99 ${millis(result.p99)}, ${result.replied}/${BYSTANDERS} answered; RSS +${
        mebibytes(Math.max(0, growth))
      } (peak ${mebibytes(peak)}); next reply ${
        next.toFixed(1)
      } ms; /healthz ${healthy}/${HEALTH_PROBES} past ${METRICS_HOLDERS} idle holders`,
      deno: "",
      node: "",
      ratio: "",
      target:
        `p99 < 50 ms, RSS growth < 128 MiB, next reply < 100 ms, /healthz ${HEALTH_PROBES}/${HEALTH_PROBES}`,
      met: result.p99 < P99_TARGET_US && growth < RSS_GROWTH_TARGET &&
        next < NEXT_REPLY_TARGET_MS && healthy === HEALTH_PROBES,
    };
  },
};

/**
 * Holds {@linkcode METRICS_HOLDERS} connections on the metrics port that send
 * nothing, then sends {@linkcode HEALTH_PROBES} `GET /healthz`; how many were
 * answered `200`.
 */
async function healthChecksPastIdleHolders(port: number): Promise<number> {
  const holders: Deno.Conn[] = [];
  try {
    for (let i = 0; i < METRICS_HOLDERS; i++) {
      holders.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    const answers = await Promise.all(
      Array.from(
        { length: HEALTH_PROBES },
        () =>
          fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) })
            .then(async (response) => {
              await response.body?.cancel();
              return response.status;
            })
            .catch(() => 0),
      ),
    );
    return answers.filter((status) => status === 200).length;
  } finally {
    for (const conn of holders) conn.close();
  }
}
