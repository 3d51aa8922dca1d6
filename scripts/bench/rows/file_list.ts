/**
 * LIST (docs/protocol.md#limits-and-bad-input: no reply built whole beyond a bound, CPU work off the
 * serving thread): 50,000 files with 190-byte names in --root, and 32
 * clients sending FILE LIST at once. A bystander's PING p99 meanwhile
 * (target < 10 ms, as HASH), the time for all the listings, and the
 * server's RSS growth. When each listing was read, sorted and written out
 * on the serving thread, all at once, one took 13.5 s, 32 grew the RSS by
 * 1.2 GiB and held a PING up to 8.5 s (measured by hand before this row
 * existed). switchboard only.
 */
import { writeAll } from "../../../lib/io.ts";
import { ReplyReader } from "../../../lib/protocol/mod.ts";
import { type BenchContext, progress, startServer } from "../context.ts";
import { type BenchRow, count, mebibytes, millis, type Row } from "../row.ts";
import { memory } from "../system.ts";
import { withBystander } from "../with_bystander.ts";

const FILES = 50_000;
const NAME_BYTES = 190;
const CLIENTS = 32;
const QUICK_CLIENTS = 8;
/** The target's p99, in µs. */
const P99_TARGET_US = 10_000;

const encoder = new TextEncoder();

/** 50,000 empty files written straight into the server's --root before it starts. */
async function fill(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/files`, { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const name = `file-${String(i).padStart(6, "0")}-`.padEnd(NAME_BYTES - 4, "x") + ".bin";
    (await Deno.create(`${dir}/files/${name}`)).close();
  }
}

/** One client's FILE LIST: checks it lists every file. */
async function listOnce(port: number): Promise<void> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, encoder.encode("FILE LIST\n"));
  const reply = await new ReplyReader(conn).read();
  if (reply.kind !== "data") throw new Error(`FILE LIST answered ${JSON.stringify(reply)}`);
  let lines = 0;
  for (const byte of reply.body) if (byte === 0x0a) lines++;
  if (lines !== FILES) throw new Error(`FILE LIST listed ${lines} files of ${FILES}`);
}

/** LIST: PING p99 and RSS growth while 32 clients list 50,000 files at once. */
export const LIST: BenchRow = {
  id: "LIST",
  about: `bystander PING p99 during ${CLIENTS} concurrent FILE LISTs of ${count(FILES)} files`,
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    const clients = context.options.quick ? QUICK_CLIENTS : CLIENTS;
    progress(`FILE LIST of ${count(FILES)} files: filling --root`);
    // Not pinned: the worker threads need the other core, as in production.
    await using server = await startServer(context, "switchboard", {
      cpu: "unpinned",
      prepare: fill,
    });
    const before = await memory(server.pid, "VmRSS");
    const peakBefore = await memory(server.pid, "VmHWM");
    progress(`FILE LIST: ${clients} clients at once, and a bystander`);
    const started = performance.now();
    const { bystander } = await withBystander(
      context,
      server,
      () => Promise.all(Array.from({ length: clients }, () => listOnce(server.port))),
    );
    const seconds = (performance.now() - started) / 1000;
    const growth = await memory(server.pid, "VmHWM") - Math.max(before, peakBefore);
    const { all } = bystander;
    return {
      scenario: `bystander PING p99 during ${clients} concurrent FILE LISTs of ${
        count(FILES)
      } files`,
      switchboard: `p99 ${millis(all.p99_us)}, max ${millis(all.max_us)} (${
        count(all.pings)
      } PINGs); ${clients} listings in ${seconds.toFixed(1)} s; peak RSS +${
        mebibytes(Math.max(0, growth))
      } (${mebibytes(before)} before)`,
      deno: "",
      node: "",
      ratio: "on the serving thread: PING max 8.5 s, +1.2 GiB",
      target: "p99 < 10 ms",
      met: all.p99_us < P99_TARGET_US,
    };
  },
};
