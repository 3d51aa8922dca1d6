/**
 * S1's request path in one process, without sockets
 * (docs/performance.md#s1-where-the-time-goes): a peer played in memory
 * sends `PING` as soon as it is read from and takes every reply at once,
 * and the same N requests go through the plain Deno echo's loop
 * (scripts/bench/deno_echo.ts), switchboard's handler (read → dispatch →
 * reply), and its `--echo` loop. CPU per request is what JavaScript and the
 * handler cost on top of the system calls, which here are none.
 *
 *   taskset -c 1 deno run --allow-all scripts/bench/hot_path.ts [requests]
 */
import { cpuUsage } from "node:process";
import { CommandTable } from "../../lib/commands/mod.ts";
import { Logger } from "../../lib/server/log.ts";
import { ClientHandler, type PeerConn } from "../../lib/server/connection/client_handler.ts";
import { Stats } from "../../lib/server/observability/stats.ts";
import { testContext } from "../../tests/context.ts";

const PING = new TextEncoder().encode("PING\n");
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 3);

/** Sends `requests` PINGs, one per read, then ends; every write is taken whole. */
class PingPeer implements PeerConn {
  replies = 0;
  constructor(public left: number) {}
  read(p: Uint8Array): Promise<number | null> {
    if (this.left-- <= 0) return Promise.resolve(null);
    p.set(PING);
    return Promise.resolve(PING.length);
  }
  write(p: Uint8Array): Promise<number> {
    this.replies++;
    return Promise.resolve(p.length);
  }
  close(): void {}
}

/** scripts/bench/deno_echo.ts's connection loop, over any peer. */
async function plainEcho(conn: PeerConn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  let start = 0;
  let end = 0;
  for (;;) {
    const n = await conn.read(buffer.subarray(end));
    if (n === null) return;
    end += n;
    const filled = buffer.subarray(0, end);
    let newline;
    while ((newline = filled.indexOf(10, start)) !== -1) {
      const line = buffer.subarray(start, newline + 1);
      for (let off = 0; off < line.length;) off += await conn.write(line.subarray(off));
      start = newline + 1;
    }
    if (start === end) start = end = 0;
  }
}

type Kind = "plain echo" | "switchboard" | "switchboard --echo";

/** CPU µs per request of `requests` PINGs through `kind`. */
async function measure(kind: Kind, requests: number): Promise<number> {
  const peer = new PingPeer(requests);
  const before = cpuUsage();
  if (kind === "plain echo") await plainEcho(peer);
  else {
    const handler = new ClientHandler(peer, { hostname: "127.0.0.1", port: 1 }, {
      // The server's defaults: timeouts and the rate floor on, as in S1.
      maxLine: 1024,
      idleTimeoutMs: 300_000,
      requestTimeoutMs: 30_000,
      minRate: 4096,
      echo: kind === "switchboard --echo",
      commands: new CommandTable(),
      services: testContext().services,
      logger: new Logger({ level: "quiet" }),
      stats: new Stats(),
    });
    await handler.run();
  }
  const used = cpuUsage(before);
  if (peer.replies !== requests) throw new Error(`${kind}: ${peer.replies} of ${requests} replies`);
  return (used.user + used.system) / requests;
}

async function main(): Promise<void> {
  const requests = Number(Deno.args[0] ?? 500_000);
  const kinds: Kind[] = ["plain echo", "switchboard", "switchboard --echo"];
  const results = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of kinds) results.get(kind)!.push(await measure(kind, requests));
  }
  console.log(`${requests} PINGs in memory, CPU µs per request (${ROUNDS} rounds, interleaved):`);
  for (const [kind, us] of results) {
    console.log(`  ${kind.padEnd(20)} ${us.map((x) => x.toFixed(3)).join("  ")}`);
  }
}

if (import.meta.main) {
  await main();
  // The test context's services keep timers of their own.
  Deno.exit(0);
}
