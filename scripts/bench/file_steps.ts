/**
 * What each step of a FILE transfer costs alone, in CPU seconds per GiB
 * (docs/performance.md#file-where-the-time-goes): SHA-256 (node:crypto),
 * a file write with its fdatasync, a file read from the page cache, and a
 * socket send and receive over loopback (the receiver is a second process,
 * so each side's CPU is its own). CPU is this process's user + system time,
 * all threads: on a shared machine it drifts far less than wall time.
 *
 *   deno run --allow-all scripts/bench/file_steps.ts [MiB] [chunk KiB]
 *
 * Pin it (`taskset -c 1 deno run …`) to measure one core, as the FILE row does.
 */
import { createHash } from "node:crypto";
import { cpuUsage } from "node:process";
import { SYNC_BEHIND_BYTES } from "../../lib/chunks.ts";

const MiB = 1024 * 1024;
/** getRandomValues fills at most 64 KiB per call. */
const RANDOM_BYTES_PER_CALL = 65536;

/** CPU seconds and wall seconds per GiB that `step` took for `bytes`. */
async function perGiB(
  bytes: number,
  step: () => Promise<void> | void,
): Promise<[cpu: number, wall: number]> {
  const before = cpuUsage();
  const started = performance.now();
  await step();
  const wall = (performance.now() - started) / 1000;
  const used = cpuUsage(before);
  const GiBs = bytes / (1024 * MiB);
  return [(used.user + used.system) / 1e6 / GiBs, wall / GiBs];
}

async function writeAllTo(sink: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  for (let off = 0; off < bytes.length;) off += await sink.write(bytes.subarray(off));
}

/** The receiving side of the socket step: prints its CPU per GiB once the sender closes. */
async function receive(chunk: Uint8Array): Promise<void> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(listener.addr.port);
  using conn = await listener.accept();
  let got = 0;
  const before = cpuUsage();
  for (let n = await conn.read(chunk); n !== null; n = await conn.read(chunk)) got += n;
  const used = cpuUsage(before);
  console.log(((used.user + used.system) / 1e6 / (got / (1024 * MiB))).toFixed(2));
}

async function main(): Promise<void> {
  if (Deno.args[0] === "receive") {
    return await receive(new Uint8Array(Number(Deno.args[1])));
  }
  const bytes = Number(Deno.args[0] ?? 512) * MiB;
  const chunk = new Uint8Array(Number(Deno.args[1] ?? 1024) * 1024);
  for (let off = 0; off < chunk.length; off += RANDOM_BYTES_PER_CALL) {
    crypto.getRandomValues(chunk.subarray(off, off + RANDOM_BYTES_PER_CALL));
  }
  const dir = await Deno.makeTempDir({ prefix: "switchboard-file-steps-" });
  const path = `${dir}/steps.bin`;
  const rows: [string, [number, number]][] = [];
  try {
    rows.push([
      "sha256",
      await perGiB(bytes, () => {
        const hash = createHash("sha256");
        for (let done = 0; done < bytes; done += chunk.length) hash.update(chunk);
        hash.digest("hex");
      }),
    ]);
    /** Writes the file the plain way: each chunk, then one fdatasync. */
    const writePlain = async () => {
      using file = await Deno.open(path, { write: true, create: true, truncate: true });
      for (let done = 0; done < bytes; done += chunk.length) await writeAllTo(file, chunk);
      await file.syncData();
    };
    // Unmeasured first: on a VM the first touch of page cache costs more than
    // the write (see scripts/bench/rows/file.ts); each measured write below
    // reuses the pages the one before it freed.
    await writePlain();
    await Deno.remove(path);
    rows.push(["file write + fdatasync", await perGiB(bytes, writePlain)]);
    await Deno.remove(path);
    rows.push([
      "file write, synced behind",
      await perGiB(bytes, async () => {
        // What the file transfers do (lib/chunks.ts SyncBehind): an fdatasync from a
        // second descriptor every SYNC_BEHIND_BYTES, in the background, so the last one is short.
        using file = await Deno.open(path, { write: true, createNew: true });
        using syncer = await Deno.open(path, { read: true });
        let syncing: Promise<void> | undefined;
        for (let done = 0; done < bytes; done += chunk.length) {
          await writeAllTo(file, chunk);
          if ((done + chunk.length) % SYNC_BEHIND_BYTES === 0 && syncing === undefined) {
            syncing = syncer.syncData().finally(() => syncing = undefined);
          }
        }
        await syncing;
        await file.syncData();
      }),
    ]);
    rows.push([
      "file read (page cache)",
      await perGiB(bytes, async () => {
        using file = await Deno.open(path, { read: true });
        while (await file.read(chunk) !== null) { /* read on */ }
      }),
    ]);
    const receiver = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        import.meta.filename!,
        "receive",
        String(chunk.length),
      ],
      stdout: "piped",
    }).spawn();
    const lines = receiver.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const port = Number((await lines.read()).value);
    rows.push([
      "socket send",
      await perGiB(bytes, async () => {
        using conn = await Deno.connect({ hostname: "127.0.0.1", port });
        for (let done = 0; done < bytes; done += chunk.length) await writeAllTo(conn, chunk);
      }),
    ]);
    let received = "";
    for (let next = await lines.read(); !next.done; next = await lines.read()) {
      received += next.value;
    }
    await receiver.status;
    rows.push(["socket receive", [Number(received.trim()), NaN]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`${bytes / MiB} MiB in ${chunk.length / 1024} KiB chunks, seconds per GiB:`);
  console.log(`  ${"step".padEnd(26)} ${"CPU".padStart(5)} ${"wall".padStart(5)}`);
  for (const [step, [cpu, wall]] of rows) {
    console.log(
      `  ${step.padEnd(26)} ${cpu.toFixed(2).padStart(5)} ${
        Number.isNaN(wall) ? "    –" : wall.toFixed(2).padStart(5)
      }`,
    );
  }
}

if (import.meta.main) await main();
