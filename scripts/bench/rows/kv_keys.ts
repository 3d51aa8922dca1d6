/**
 * KVKEYS (SPEC §5, issue 17): 50,000 keys of 240 bytes; 32 clients list
 * them at once, over and over — `KV KEYS` (past 10,000 keys: `too-large`)
 * and `KV SCAN LIMIT 10000` pages — and the server's RSS growth is read
 * from its peak (target < 64 MiB). Before the bound, each KEYS built the
 * whole listing: RSS went from 155 to 1,065 MiB.
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

/** One client: KEYS, then SCAN pages to the end, until `stop()`; returns the keys it was sent. */
async function lister(port: number, stop: () => boolean): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const replies = new ReplyReader(conn);
  let listed = 0;
  try {
    while (!stop()) {
      await writeAll(conn, encoder.encode("KV KEYS\n"));
      await replies.read();
      let after = "";
      for (;;) {
        const command = after === "" ? "KV SCAN LIMIT 10000" : `KV SCAN AFTER ${after} LIMIT 10000`;
        await writeAll(conn, encoder.encode(command + "\n"));
        const reply = await replies.read();
        if (reply.kind !== "data") throw new Error(`SCAN answered ${JSON.stringify(reply)}`);
        const keys = new TextDecoder().decode(reply.body).split("\n").filter((k) => k !== "");
        listed += keys.length;
        if (keys.length < 10_000 || stop()) break;
        after = keys.at(-1)!;
      }
    }
  } finally {
    conn.close();
  }
  return listed;
}

/** KVKEYS: RSS growth while 32 clients list 50,000 keys at once. */
export const KVKEYS: BenchRow = {
  id: "KVKEYS",
  about: "RSS growth during 32 concurrent KV KEYS / SCAN over 50,000 keys",
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
    progress(`KV KEYS: ${CLIENTS} clients listing`);
    let stop = false;
    const running = Array.from({ length: CLIENTS }, () => lister(server.port, () => stop));
    await delay((context.options.quick ? QUICK_DURATION_S : DURATION_S) * 1000);
    stop = true;
    const listed = (await Promise.all(running)).reduce((a, b) => a + b, 0);
    const peak = await memory(server.pid, "VmHWM");
    const growth = peak - Math.max(before, peakBefore);
    return {
      scenario: "RSS growth during 32 concurrent KV KEYS / SCAN over 50,000 keys",
      switchboard: `peak RSS +${mebibytes(Math.max(0, growth))} (${mebibytes(before)} before); ${
        count(listed)
      } keys listed`,
      deno: "",
      node: "",
      ratio: "before the bound: +910 MiB",
      target: "growth < 64 MiB",
      met: growth < GROWTH_TARGET,
    };
  },
};
