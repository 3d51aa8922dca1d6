/**
 * HASH (docs/protocol.md#limits-and-bad-input "hashing a file for GET never runs on the
 * thread that serves connections; concurrent GETs of one unhashed file
 * hash it once"): a bystander's PING p99 while 16 clients GET one 256 MiB
 * file at once. The file is written straight into --root, so the server
 * has no hash for it: one hash on a worker thread, which the 16 GETs wait
 * for, then 16 downloads. The bystander (scripts/bench/bystander.ts)
 * measures from the GETs' request to their last byte, in two phases: up
 * to the last sha256 header (the hash) and after it (the downloads); the
 * target holds for each. Alone first, for the idle p99. switchboard only.
 */
import { delay } from "@std/async/delay";
import { createHash } from "node:crypto";
import { writeAll } from "../../../lib/io.ts";
import { type BenchContext, progress, startServer } from "../context.ts";
import { type BenchRow, count, millis, type Row, times } from "../row.ts";
import type { BenchServer } from "../servers.ts";
import { cpuSeconds } from "../system.ts";
import { type Latency, NO_PINGS, withBystander } from "../with_bystander.ts";
import { randomFile } from "./file.ts";

const MiB = 1024 ** 2;
/** The file the GETs fetch. */
const FILE_BYTES = 256 * MiB;
const FILE_NAME = "unhashed.bin";
/** GETs at once. */
const GETS = 16;
/** How long the bystander measures alone. */
const ALONE_MS = 2000;
const QUICK_ALONE_MS = 500;
/** The target's p99, in µs. */
const P99_TARGET_US = 10_000;
/** Each GET reads its body in chunks of this size and drops them. */
const READ_BUFFER_BYTES = MiB;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * GETs the file on `gets` connections at once and checks each header;
 * calls `onHeaders` when the last header is in. Seconds to the last header
 * and to the last byte.
 */
async function fetchAll(port: number, gets: number, header: string, onHeaders: () => void) {
  const started = performance.now();
  let lastHeader = 0;
  let headers = 0;
  const fetchOne = async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, encoder.encode(`FILE GET ${FILE_NAME}\n`));
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    // The header is ASCII, so its characters are its bytes.
    let text = "";
    let received = 0;
    while (!text.includes("\n")) {
      const got = await conn.read(buffer);
      if (got === null) throw new Error(`closed before the reply: ${text}`);
      text += decoder.decode(buffer.subarray(0, got));
      received += got;
    }
    const line = text.slice(0, text.indexOf("\n"));
    if (line !== header) throw new Error(`expected ${header}, got ${line.slice(0, 100)}`);
    lastHeader = Math.max(lastHeader, performance.now());
    if (++headers === gets) onHeaders();
    // The rest of the body and its trailing LF.
    for (let left = line.length + 1 + FILE_BYTES + 1 - received; left > 0;) {
      const got = await conn.read(buffer);
      if (got === null) throw new Error(`closed with ${left} bytes of the body missing`);
      left -= got;
    }
  };
  await Promise.all(Array.from({ length: gets }, fetchOne));
  const seconds = (at: number) => (at - started) / 1000;
  return { headersS: seconds(lastHeader), doneS: seconds(performance.now()) };
}

/** One STATS counter of `server`. */
async function statsValue(server: BenchServer, key: string): Promise<number> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await writeAll(conn, encoder.encode("STATS\nQUIT\n"));
  let text = "";
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  for (let got = await conn.read(buffer); got !== null; got = await conn.read(buffer)) {
    text += decoder.decode(buffer.subarray(0, got));
  }
  const value = new RegExp(`^${key} (\\d+)$`, "m").exec(text)?.[1];
  if (value === undefined) throw new Error(`STATS has no ${key}:\n${text}`);
  return Number(value);
}

/** sha256 of a file, read the ordinary way. */
async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** HASH: PING p99 while 16 GETs of an unhashed 256 MiB file run. */
export const HASH: BenchRow = {
  id: "HASH",
  about: `bystander PING p99 during ${GETS} concurrent GETs of an unhashed 256 MiB file`,
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    progress(`PING while ${GETS} GETs hash and fetch an unhashed ${FILE_BYTES / MiB} MiB file`);
    // Not pinned: the worker threads need the other core, as in production.
    await using server = await startServer(context, "switchboard", { cpu: "unpinned" });
    const path = `${server.dir}/files/${FILE_NAME}`;
    await randomFile(path, FILE_BYTES);
    const header = `DATA ${FILE_BYTES} ${await sha256Of(path)}`;
    const aloneMs = context.options.quick ? QUICK_ALONE_MS : ALONE_MS;
    const alone = await withBystander(context, server, () => delay(aloneMs));
    const cpuBefore = await cpuSeconds(server.pid);
    const busy = await withBystander(
      context,
      server,
      (mark) => fetchAll(server.port, GETS, header, mark),
    );
    const cpu = await cpuSeconds(server.pid) - cpuBefore;
    const hashes = await statsValue(server, "hashes_total");
    const { headersS, doneS } = busy.result;
    const { all, phases } = busy.bystander;
    const [hashing, streaming] = [phases[0] ?? NO_PINGS, phases[1] ?? NO_PINGS];
    // The bystander waits for each PONG, so a stalled span holds few PINGs
    // and a p99 over the whole would hide it: each phase must meet the target.
    const worst = Math.max(hashing.p99_us, streaming.p99_us);
    const phase = (latency: Latency, seconds: number) =>
      `p99 ${millis(latency.p99_us)}, max ${millis(latency.max_us)} (${
        count(latency.pings)
      } PINGs in ${seconds.toFixed(1)} s)`;
    return {
      scenario: `bystander PING p99 during ${GETS} concurrent GETs of an unhashed ${
        FILE_BYTES / MiB
      } MiB file`,
      switchboard: `hashing, to the last sha256 header: ${phase(hashing, headersS)}; ` +
        `bodies streaming: ${phase(streaming, doneS - headersS)}; whole: p99 ${
          millis(all.p99_us)
        }; alone: p99 ${millis(alone.bystander.all.p99_us)}; hashed ${hashes}×, server CPU ${
          cpu.toFixed(1)
        } s`,
      deno: "",
      node: "",
      ratio: `hashing ${times(hashing.p99_us, alone.bystander.all.p99_us)}, streaming ${
        times(streaming.p99_us, alone.bystander.all.p99_us)
      } of idle p99`,
      target: "p99 < 10 ms in each phase",
      met: worst < P99_TARGET_US,
    };
  },
};
