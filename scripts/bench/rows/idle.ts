/**
 * IDLE (docs/performance.md): 10,000 connections held open (64 running, the rest
 * queued), and the server's RSS once it has accepted them all.
 */
import { delay } from "@std/async/delay";
import { type BenchContext, progress, serverKinds, startServer } from "../context.ts";
import { type BenchRow, count, mebibytes, type Row, times } from "../row.ts";
import type { ServerKind } from "../servers.ts";
import { memory } from "../system.ts";

const MiB = 1024 ** 2;
export const CONNECTIONS = 10_000;
export const QUICK_CONNECTIONS = 2000;
/** Connections opened at once: more would overflow the listen backlog of the echoes. */
const CONNECT_BATCH = 500;
/** Time for the server to accept the last batch and settle before its RSS is read. */
const SETTLE_MS = 1000;
export const RSS_TARGET = 200 * MiB;

/** The RSS of a `kind` server (with `args`) holding `connections` idle connections. */
export async function idleRss(
  context: BenchContext,
  kind: ServerKind,
  connections: number,
  args: string[] = [],
): Promise<number> {
  progress(`${connections} idle connections: ${kind} ${args.join(" ")}`);
  await using server = await startServer(context, kind, {
    args: ["--queue-limit", String(connections), ...args],
  });
  const conns: Deno.TcpConn[] = [];
  try {
    const before = await memory(server.pid, "VmRSS");
    for (let i = 0; i < connections; i += CONNECT_BATCH) {
      const batch = await Promise.all(
        Array.from(
          { length: Math.min(CONNECT_BATCH, connections - i) },
          () => Deno.connect({ hostname: "127.0.0.1", port: server.port }),
        ),
      );
      conns.push(...batch);
    }
    await delay(SETTLE_MS);
    const rss = await memory(server.pid, "VmRSS");
    progress(`  RSS ${(before / MiB).toFixed(1)} → ${(rss / MiB).toFixed(1)} MiB`);
    return rss;
  } finally {
    for (const conn of conns) conn.close();
  }
}

/** IDLE: server RSS with 10,000 idle connections. */
export const IDLE: BenchRow = {
  id: "IDLE",
  about: `${count(CONNECTIONS)} idle connections (64 running, rest queued): server RSS`,
  compares: true,
  async run(context: BenchContext): Promise<Row> {
    const connections = context.options.quick ? QUICK_CONNECTIONS : CONNECTIONS;
    const rss = new Map<ServerKind, number>();
    for (const kind of serverKinds(context, { compares: true })) {
      rss.set(kind, await idleRss(context, kind, connections));
    }
    const cell = (kind: ServerKind) => rss.has(kind) ? mebibytes(rss.get(kind)!) : "n/a";
    const sb = rss.get("switchboard")!;
    return {
      scenario: `${count(connections)} idle connections (64 running, rest queued): server RSS`,
      switchboard: cell("switchboard"),
      compare: rss.has("compare")
        ? { result: cell("compare"), ratio: `${times(sb, rss.get("compare")!)} its RSS` }
        : undefined,
      deno: cell("deno"),
      node: cell("node"),
      ratio: `${times(sb, rss.get("deno")!)} Deno's RSS`,
      target: "< 200 MiB",
      met: sb < RSS_TARGET,
    };
  },
};
