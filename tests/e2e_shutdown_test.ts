/** End to end: graceful shutdown (docs/protocol.md#shutdown). */
import { assertEquals } from "@std/assert";
import { delay } from "@std/async/delay";
import { eventually, parseStats, TestClient, TestServer } from "./helpers.ts";

Deno.test("SIGTERM tells idle and queued clients, refuses newcomers, and exits 0", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  using running = await TestClient.connect(server.port);
  assertEquals(await running.ask("PING"), "OK PONG");
  using queued = await TestClient.connect(server.port);
  await server.waitForLog(/client queued/);
  server.signal("SIGTERM");
  assertEquals(await queued.readText(), "ERR shutdown server is shutting down");
  assertEquals(await running.readText(), "ERR shutdown server is shutting down");
  await running.closedByServer();
  await queued.closedByServer();
  const status = await server.exited();
  assertEquals(status.code, 0);
  await Deno.connect({ hostname: "127.0.0.1", port: server.port }).then(
    (conn) => {
      conn.close();
      throw new Error("a new connection was accepted after shutdown");
    },
    (error) => assertEquals(error instanceof Deno.errors.ConnectionRefused, true),
  );
  server.assertLogged(/shutting down running=1 queued=1/);
});

/** A client that floods requests and never reads replies, so the server's writes block. */
async function stuckClient(server: TestServer): Promise<TestClient> {
  const client = await TestClient.connect(server.port);
  const line = new TextEncoder().encode(`ECHO ${"z".repeat(60_000)}\n`);
  void (async () => {
    try {
      for (let i = 0; i < 2000; i++) await client.write(line);
    } catch { /* closed by the server */ }
  })();
  using probe = await TestClient.connect(server.port);
  let last = -1;
  await eventually(
    async () => {
      const now = parseStats(await probe.ask("STATS")).bytes_in;
      // Settled: nothing came in since the last probe but the probe's own "STATS\n".
      const settled = now - last === "STATS\n".length;
      last = now;
      await new Promise((r) => setTimeout(r, 200));
      return settled;
    },
    "the stuck client to fill the socket buffers",
    30_000,
  );
  return client;
}

Deno.test("the drain timeout closes a client that cannot finish, then the server exits 0", async () => {
  await using server = await TestServer.start(["--drain-timeout", "0.5"]);
  using stuck = await stuckClient(server);
  server.signal("SIGTERM");
  const status = await server.exited();
  assertEquals(status.code, 0);
  server.assertLogged(/drain timeout passed; closing remaining clients running=1/);
  void stuck;
});

Deno.test("a second signal during the drain exits at once with 130", async () => {
  await using server = await TestServer.start(["--drain-timeout", "60"]);
  using stuck = await stuckClient(server);
  server.signal("SIGTERM");
  await server.waitForLog(/shutting down/);
  // Past the 250 ms in which a repeat counts as the same signal (docs/protocol.md#shutdown).
  await delay(400);
  server.signal("SIGINT");
  const status = await server.exited();
  assertEquals(status.code, 130);
  void stuck;
});

Deno.test("two signals within 250 ms are one: the drain runs and the exit is 0", async () => {
  await using server = await TestServer.start(["--drain-timeout", "0.5"]);
  using stuck = await stuckClient(server);
  // What a terminal's Ctrl-C under `deno task` delivers: the terminal's and the task runner's.
  server.signal("SIGINT");
  server.signal("SIGINT");
  const status = await server.exited();
  assertEquals(status.code, 0);
  server.assertLogged(/drain timeout passed; closing remaining clients running=1/);
  void stuck;
});
