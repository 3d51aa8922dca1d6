/**
 * KVKEYS (docs/protocol.md#limits-and-bad-input): 50,000 keys of 240 bytes; 32 clients send
 * `KV KEYS` at once, over and over, and the server's RSS growth is read
 * from its peak (target < 64 MiB). Before the bound, each KEYS built the
 * whole listing: RSS went from 155 to 1,065 MiB. Now KEYS counts first and
 * says `too-large` past 10,000 keys without holding any; the row also
 * reports what one client paging through all of them with `KV SCAN LIMIT
 * 10000` costs, which is the way to list them.
 */
import { delay } from "@std/async/delay";
import { writeAll } from "../../../lib/io.ts";
import { ReplyReader } from "../../../lib/protocol/mod.ts";
import { type BenchContext, progress, startServer } from "../context.ts";
import { type BenchRow, count, mebibytes, type Row } from "../row.ts";
import { memory } from "../system.ts";

const MiB = 1024 ** 2;
const KEYS = 50_000;
const KEY_BYTES = 240;
const CLIENTS = 32;
const DURATION_S = 10;
const QUICK_DURATION_S = 3;
const GROWTH_TARGET = 64 * MiB;
/** Entries per commit when the database is filled: Deno KV allows 81,920 key bytes per commit. */
const FILL_BATCH = 200;

const encoder = new TextEncoder();

/** 50,000 keys written straight into the server's database before it starts. */
async function fill(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/data`, { recursive: true });
  const kv = await Deno.openKv(`${dir}/data/switchboard.kv`);
  try {
    for (let i = 0; i < KEYS; i += FILL_BATCH) {
      const batch = kv.atomic();
      for (let j = i; j < Math.min(KEYS, i + FILL_BATCH); j++) {
        batch.set(
          ["kv", `k${String(j).padStart(8, "0")}`.padEnd(KEY_BYTES, "x")],
          encoder.encode("v"),
        );
      }
      await batch.commit();
    }
  } finally {
    kv.close();
  }
}

/** One client sending `KV KEYS` until `stop()`; returns how many replies it read. */
async function keysLoop(port: number, stop: () => boolean): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const replies = new ReplyReader(conn);
  let answered = 0;
  try {
    while (!stop()) {
      await writeAll(conn, encoder.encode("KV KEYS\n"));
      const reply = await replies.read();
      if (reply.kind !== "err" || reply.code !== "too-large") {
        throw new Error(`KV KEYS answered ${JSON.stringify(reply).slice(0, 200)}`);
      }
      answered++;
    }
  } finally {
    conn.close();
  }
  return answered;
}

/** One client paging through every key with KV SCAN LIMIT 10000; returns the keys listed. */
async function scanAll(port: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const replies = new ReplyReader(conn);
  let listed = 0;
  let after = "";
  try {
    for (;;) {
      const command = after === "" ? "KV SCAN LIMIT 10000" : `KV SCAN AFTER ${after} LIMIT 10000`;
      await writeAll(conn, encoder.encode(command + "\n"));
      const reply = await replies.read();
      if (reply.kind !== "data") throw new Error(`KV SCAN answered ${JSON.stringify(reply)}`);
      const keys = new TextDecoder().decode(reply.body).split("\n").filter((k) => k !== "");
      listed += keys.length;
      if (keys.length < 10_000) return listed;
      after = keys.at(-1)!;
    }
  } finally {
    conn.close();
  }
}

/** KVKEYS: RSS growth while 32 clients list 50,000 keys at once. */
export const KVKEYS: BenchRow = {
  id: "KVKEYS",
  about: "RSS growth during 32 concurrent KV KEYS over 50,000 keys",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    progress("KV KEYS over 50,000 keys: filling the database");
    await using server = await startServer(context, "switchboard", {
      cpu: "unpinned",
      prepare: fill,
    });
    await delay(500);
    const before = await memory(server.pid, "VmRSS");
    const peakBefore = await memory(server.pid, "VmHWM");
    progress(`KV KEYS: ${CLIENTS} clients at once`);
    let stop = false;
    const running = Array.from({ length: CLIENTS }, () => keysLoop(server.port, () => stop));
    await delay((context.options.quick ? QUICK_DURATION_S : DURATION_S) * 1000);
    stop = true;
    const answered = (await Promise.all(running)).reduce((a, b) => a + b, 0);
    const peak = await memory(server.pid, "VmHWM");
    const growth = peak - Math.max(before, peakBefore);
    progress("KV SCAN: one client paging through every key");
    const scanStart = performance.now();
    const listed = await scanAll(server.port);
    const scanS = (performance.now() - scanStart) / 1000;
    const scanPeak = await memory(server.pid, "VmHWM");
    return {
      scenario: "RSS growth during 32 concurrent KV KEYS over 50,000 keys",
      switchboard: `peak RSS +${mebibytes(Math.max(0, growth))} (${mebibytes(before)} before), ${
        count(answered)
      } KEYS answered too-large; one SCAN of all ${count(listed)} keys in ${
        scanS.toFixed(1)
      } s, peak RSS +${mebibytes(Math.max(0, scanPeak - Math.max(before, peakBefore)))}`,
      deno: "",
      node: "",
      ratio: "before the bound: +910 MiB",
      target: "growth < 64 MiB",
      met: growth < GROWTH_TARGET,
    };
  },
};
