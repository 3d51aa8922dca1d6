/**
 * One timed FILE transfer for `deno task bench`, through the client's own
 * code (lib/client/transfer.ts): from the FILE request to the verified sha256, so
 * that Deno's start-up is not counted as transfer time. Prints one JSON line.
 *
 *   deno run --allow-net --allow-read --allow-write scripts/bench/file_transfer.ts \
 *     PORT put|get LOCAL NAME
 *   … file_transfer.ts copy FROM TO
 *
 * `copy` is the reference: the same bytes read from one file and written to
 * a new one with fdatasync, in plain Deno, no socket and no hash: what this
 * machine's disk and memory allow any program.
 */
import { cpuUsage } from "node:process";
import { Connection } from "../../lib/client/connection.ts";
import { localPath } from "../../lib/paths.ts";
import { get, put } from "../../lib/client/transfer.ts";

if (Deno.args[0] === "copy") {
  const [, from, to] = Deno.args;
  const started = performance.now();
  using source = await Deno.open(from!, { read: true });
  using target = await Deno.open(to!, { createNew: true, write: true });
  const buffer = new Uint8Array(1024 * 1024);
  let bytes = 0;
  for (let n = await source.read(buffer); n !== null; n = await source.read(buffer)) {
    for (let off = 0; off < n;) off += await target.write(buffer.subarray(off, n));
    bytes += n;
  }
  await target.syncData();
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ verb: "copy", bytes, seconds }));
  Deno.exit(0);
}

const [port, verb, local, name] = Deno.args;
if (port === undefined || (verb !== "put" && verb !== "get") || !local || !name) {
  console.error("usage: file_transfer.ts PORT put|get LOCAL NAME | copy FROM TO");
  Deno.exit(2);
}
const connection = await Connection.open({ host: "127.0.0.1", port: Number(port), timeoutMs: 0 });
const started = performance.now();
const cpu = cpuUsage();
const result = verb === "put"
  ? await put(connection, localPath(local), name)
  : await get(connection, name, localPath(local), { force: true });
const seconds = (performance.now() - started) / 1000;
const used = cpuUsage(cpu);
connection.close();
if (!result.ok) {
  console.error(`${verb} failed: ${JSON.stringify(result.reply)}`);
  Deno.exit(1);
}
// cpu: this process's user + system seconds during the transfer, all threads.
const cpuSeconds = (used.user + used.system) / 1e6;
console.log(
  JSON.stringify({ verb, bytes: result.size, seconds, cpu: cpuSeconds, sha256: result.sha256 }),
);
