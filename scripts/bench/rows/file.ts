/**
 * FILE (docs/performance.md): PUT and GET of --file-mib MiB through the client's own
 * code, timed from the request to the verified sha256
 * (scripts/bench/file_transfer.ts), against a plain Deno copy of the same
 * file as the reference; and the server's peak RSS growth. switchboard only.
 *
 * On a VM whose freed memory goes back to the host (virtio-balloon free
 * page reporting), the first touch of page cache costs more than the copy
 * itself; so each timed step starts right after that many bytes of page
 * cache were freed, and the first (cold) copy is shown apart.
 */
import { type BenchContext, progress, startServer } from "../context.ts";
import { LOAD_CPU } from "../load.ts";
import { type BenchRow, count, type Row } from "../row.ts";
import { cpuSeconds, DENO, memory, output, pinned, REPO_ROOT, RUN_AS_CLIENT } from "../system.ts";

const MiB = 1024 ** 2;
/** getRandomValues fills at most 64 KiB per call. */
const RANDOM_BYTES_PER_CALL = 65536;
/** The target, each way: this share of the plain copy's rate in the same run (docs/performance.md). */
const COPY_SHARE_TARGET = 0.9;
/** The target for the server's peak RSS growth over both transfers. */
const RSS_GROWTH_TARGET = 64 * MiB;

/** Writes `bytes` random bytes to `path` and syncs them, so that write-back does not compete with the PUT. */
export async function randomFile(path: string, bytes: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(MiB);
  for (let done = 0; done < bytes; done += chunk.length) {
    for (let off = 0; off < chunk.length; off += RANDOM_BYTES_PER_CALL) {
      crypto.getRandomValues(chunk.subarray(off, off + RANDOM_BYTES_PER_CALL));
    }
    await file.write(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
  }
  await file.syncData();
}

/** Share of wall time a server and a client spent on CPU during a transfer. */
interface Busy {
  server: number;
  client: number;
}

function busyText(busy: Busy): string {
  return `CPU: server ${(100 * busy.server).toFixed(0)} %, client ${
    (100 * busy.client).toFixed(0)
  } %`;
}

/** FILE: PUT and GET with SHA-256, request → verified. */
export const FILE: BenchRow = {
  id: "FILE",
  about: "FILE PUT/GET with SHA-256 (--file-mib), request → verified",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    const bytes = context.options.fileBytes;
    progress(`FILE ${bytes / MiB} MiB`);
    const dir = await Deno.makeTempDir({ prefix: "switchboard-bench-file-" });
    await using _cleanup = {
      [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
    };
    const source = `${dir}/source.bin`;
    const back = `${dir}/back.bin`;
    const scratch = `${dir}/scratch.bin`;
    await randomFile(source, bytes);
    /** Seconds (and the client's CPU seconds) of one run of scripts/bench/file_transfer.ts. */
    const timed = async (...words: string[]) => {
      const result = await output(...pinned(context.machine, LOAD_CPU, [DENO, [
        ...RUN_AS_CLIENT,
        `${REPO_ROOT}/scripts/bench/file_transfer.ts`,
        ...words,
      ]]));
      if (!result.ok) throw new Error(`file_transfer ${words.join(" ")} failed`);
      return JSON.parse(result.out) as { seconds: number; cpu?: number };
    };
    const rate = (seconds: number) => bytes / seconds / 1e6;
    /** MB/s of a copy, which leaves `bytes` of just-freed page cache behind. */
    const copy = async () => {
      const { seconds } = await timed("copy", source, scratch);
      await Deno.remove(scratch);
      return rate(seconds);
    };
    await using server = await startServer(context, "switchboard", {
      args: ["--max-file-size", String(bytes)],
    });
    const before = await memory(server.pid, "VmHWM");
    const cold = await copy();
    const reference = await copy();
    /** MB/s, and the shares of the transfer's wall time the server and the client spent on CPU. */
    const transfer = async (verb: "put" | "get", local: string) => {
      const cpu = await cpuSeconds(server.pid);
      const { seconds, cpu: client } = await timed(String(server.port), verb, local, "bench.bin");
      const busy: Busy = {
        server: (await cpuSeconds(server.pid) - cpu) / seconds,
        client: (client ?? NaN) / seconds,
      };
      return { rate: rate(seconds), busy };
    };
    const put = await transfer("put", source);
    await copy();
    const get = await transfer("get", back);
    const growth = await memory(server.pid, "VmHWM") - before;
    return {
      scenario: `FILE PUT/GET ${bytes / MiB} MiB with SHA-256, request → verified`,
      switchboard: `PUT ${count(put.rate)} MB/s (${busyText(put.busy)}), GET ${
        count(get.rate)
      } MB/s (${busyText(get.busy)}); server peak RSS +${(growth / MiB).toFixed(1)} MiB`,
      deno: `plain copy, no hash: ${count(reference)} MB/s (first, cold memory: ${count(cold)})`,
      node: "",
      ratio: `PUT ${(put.rate / reference).toFixed(2)}×, GET ${
        (get.rate / reference).toFixed(2)
      }× the copy`,
      target: `≥ ${COPY_SHARE_TARGET}× the copy each way; RSS growth < 64 MiB`,
      met: put.rate >= COPY_SHARE_TARGET * reference && get.rate >= COPY_SHARE_TARGET * reference &&
        growth < RSS_GROWTH_TARGET,
    };
  },
};
