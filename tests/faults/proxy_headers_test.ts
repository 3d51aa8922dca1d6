/**
 * Hostile peers at a balancer's address (docs/server.md#behind-a-load-balancer):
 * thousands of connections from a `--proxy-protocol` address that never
 * send their header, under a low descriptor limit. The header reads are
 * capped (the oldest dropped) and bounded by --request-timeout, so the
 * silent peers are all closed, none reaches the Manager, and a real client
 * behind the balancer is served while they are there.
 */
import { assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { eventually, parseStats, TestClient, TestServer } from "../helpers.ts";
import { proxyV2 } from "../proxy_headers.ts";

const SILENT = 5000;

/** True once the server closed `conn` (EOF or reset). */
async function closed(conn: Deno.Conn): Promise<true> {
  try {
    while (await conn.read(new Uint8Array(16)) !== null) { /* nothing is ever sent */ }
  } catch {
    // a reset counts as closed
  }
  return true;
}

Deno.test("5,000 silent connections from a balancer's address under --nofile 2048: all closed, a real client served meanwhile", async () => {
  await using server = await TestServer.start(
    ["--proxy-protocol", "127.0.0.1", "--request-timeout", "2", "--insecure"],
    { wrap: ["prlimit", "--nofile=2048:2048"] },
  );
  const silent: Deno.Conn[] = [];
  try {
    for (let i = 0; i < SILENT; i++) {
      silent.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    // A real client behind the balancer, while they are held: its header arrives
    // with the connection, so it gets through the header reads at once.
    {
      using real = await TestClient.connect(server.port);
      await real.write(proxyV2({ hostname: "203.0.113.50", port: 5000 }));
      assertEquals(await deadline(real.ask("PING"), 10_000), "OK PONG");
    }
    // Every silent one is closed: dropped for newer ones, or at its deadline.
    await deadline(Promise.all(silent.map(closed)), 30_000).catch(() => {
      throw new Error("the server left silent connections open for 30 s");
    });
  } finally {
    for (const conn of silent) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }
  // Asked from 127.0.0.9, an address the server expects no header from.
  using direct = await TestClient.connectFrom(server.port, "127.0.0.9");
  let stats = parseStats(await direct.ask("STATS"));
  await eventually(async () => {
    stats = parseStats(await direct.ask("STATS"));
    return stats.proxy_errors_total === SILENT;
  }, `proxy_errors_total to reach ${SILENT}`);
  // The cap of 1,024 header reads kept the server within its descriptors: it never
  // had to stop accepting.
  server.assertLogged(/accepting clients paused/, false);
  // None of them took a queue place: the Manager saw the real client and this one.
  assertEquals([stats.accepted_total, stats.rejected_total, stats.queued], [2, 0, 0]);
});
