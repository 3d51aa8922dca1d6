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

const MiB = 1024 * 1024;
/** getRandomValues fills at most 64 KiB per call. */
const RANDOM_BYTES_PER_CALL = 65536;

/** CPU seconds per GiB that `step` took for `bytes`. */
async function perGiB(bytes: number, step: () => Promise<void> | void): Promise<number> {
  const before = cpuUsage();
  await step();
  const used = cpuUsage(before);
  return (used.user + used.system) / 1e6 / (bytes / (1024 * MiB));
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
  const rows: [string, number][] = [];
  try {
    rows.push([
      "sha256",
      await perGiB(bytes, () => {
        const hash = createHash("sha256");
        for (let done = 0; done < bytes; done += chunk.length) hash.update(chunk);
        hash.digest("hex");
      }),
    ]);
    rows.push([
      "file write + fdatasync",
      await perGiB(bytes, async () => {
        using file = await Deno.open(path, { write: true, create: true, truncate: true });
        for (let done = 0; done < bytes; done += chunk.length) await writeAllTo(file, chunk);
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
    rows.push(["socket receive", Number(received.trim())]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`${bytes / MiB} MiB in ${chunk.length / 1024} KiB chunks, CPU seconds per GiB:`);
  for (const [step, seconds] of rows) console.log(`  ${step.padEnd(24)} ${seconds.toFixed(2)}`);
}

if (import.meta.main) await main();
