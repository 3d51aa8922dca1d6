/**
 * `deno run --allow-all scripts/memory_probe.ts lines|scan [server options]`:
 * what the memory attacks of docs/server.md#what-a-client-cannot-do-to-the-server
 * cost a server, and whether the memory comes back. Starts a server with the
 * given options (`deno task server`'s permissions), reads its VmRSS and VmHWM
 * from /proc before, while the attack holds, and after it ends:
 *
 * - `lines`: 10,000 connections (`N=…` to change) each send 60 KB of a line
 *   and no LF, and hold it for 5 s, then close (use `--max-running 10000`);
 * - `scan`: 12,000 keys, then 60 clients that each pipeline 4 ×
 *   `KV SCAN LIMIT 10000` and never read, held for 8 s, then closed.
 *
 * `--host 127.0.0.N` (passed to the server) gives a fresh address when
 * earlier runs left the loopback ports in TIME_WAIT. Linux only (/proc).
 */
import { delay } from "@std/async/delay";
import { writeAll } from "../lib/io.ts";
import { SERVER_FLAGS } from "./bench/servers.ts";
import { DENO, freePort, memory, REPO_ROOT, waitListening } from "./bench/system.ts";

const MiB = 1024 ** 2;
const encoder = new TextEncoder();
/** Seconds after the attack ends at which memory is read again. */
const AFTER_S = [2, 10, 20];

async function main(): Promise<void> {
  const [mode, ...serverArgs] = Deno.args;
  if (mode !== "lines" && mode !== "scan") {
    console.error("usage: memory_probe.ts lines|scan [server options]");
    Deno.exit(2);
  }
  const hostAt = serverArgs.indexOf("--host");
  const host = hostAt === -1 ? "127.0.0.1" : serverArgs[hostAt + 1]!;
  const dir = await Deno.makeTempDir({ prefix: "switchboard-memory-" });
  const port = freePort();
  const server = new Deno.Command(DENO, {
    args: [
      "run",
      ...SERVER_FLAGS,
      `${REPO_ROOT}/server.ts`,
      "--port",
      String(port),
      "--data",
      `${dir}/data`,
      "--root",
      `${dir}/files`,
      "-q",
      ...(host === "127.0.0.1" ? [] : ["--insecure"]),
      ...serverArgs,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitListening(port, server);
    const report = async (when: string) => {
      const [rss, peak] = await Promise.all([
        memory(server.pid, "VmRSS"),
        memory(server.pid, "VmHWM"),
      ]);
      console.log(`${when}: RSS ${(rss / MiB).toFixed(0)} MiB (peak ${(peak / MiB).toFixed(0)})`);
    };
    await report("started");
    if (mode === "lines") await partialLines(host, port, report);
    else await scans(host, port, report);
    let waited = 0;
    for (const seconds of AFTER_S) {
      await delay((seconds - waited) * 1000);
      waited = seconds;
      await report(`${seconds} s after`);
    }
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await Deno.remove(dir, { recursive: true });
  }
}

/** Connections that each send 60 KB of a line and no LF, held, then closed. */
async function partialLines(host: string, port: number, report: (when: string) => Promise<void>) {
  const count = Number(Deno.env.get("N") ?? 10_000);
  const partial = encoder.encode(`ECHO ${"x".repeat(60_000)}`);
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const conn = await Deno.connect({ hostname: host, port });
      conns.push(conn);
      writeAll(conn, partial).catch(() => {});
    }
    await delay(5000);
    await report(`${count} × 60 KB partial lines held`);
  } finally {
    for (const conn of conns) conn.close();
  }
}

/** 12,000 keys, then 60 clients that pipeline 4 × KV SCAN LIMIT 10000 and never read. */
async function scans(host: string, port: number, report: (when: string) => Promise<void>) {
  const loader = await Deno.connect({ hostname: host, port });
  const keys = Array.from({ length: 12_000 }, (_, i) => `KV SET key:${i} value\n`).join("");
  await writeAll(loader, encoder.encode(keys));
  const reply = new Uint8Array(64 * 1024);
  for (let replies = 0; replies < 12_000;) {
    const n = await loader.read(reply);
    if (n === null) throw new Error("the server closed the loading connection");
    for (let i = 0; i < n; i++) if (reply[i] === 10) replies++;
  }
  loader.close();
  await report("12,000 keys stored");
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 60; i++) {
      const conn = await Deno.connect({ hostname: host, port });
      conns.push(conn);
      await writeAll(conn, encoder.encode("KV SCAN LIMIT 10000\n".repeat(4)));
    }
    await delay(8000);
    await report("60 non-readers of 4 SCANs held");
  } finally {
    for (const conn of conns) conn.close();
  }
}

if (import.meta.main) await main();
