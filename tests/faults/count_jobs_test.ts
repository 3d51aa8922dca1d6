/**
 * COUNT cannot hold the workers (docs/protocol.md#commands): jobs of different requests take
 * turns, one request costs at most a CPU-minute, and the server holds at
 * most --workers × 60 s of COUNT work waiting.
 */
import { assertEquals, assertLessOrEqual } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { eventually, parseStats, TestClient, TestServer } from "../helpers.ts";

Deno.test("a short COUNT is answered before a long one that started first (turns, not FIFO)", async () => {
  await using server = await TestServer.start(["--workers", "1", "--drain-timeout", "0.2"]);
  using long = await TestClient.connect(server.port);
  using short = await TestClient.connect(server.port);
  await long.send("COUNT 0 30 1000");
  await eventually(
    async () => parseStats(await short.ask("STATS")).jobs_running === 1,
    "the long COUNT to start",
  );
  await short.send("COUNT 0 1 0");
  const first = await Promise.race([
    long.readText().then((reply) => `long: ${reply}`),
    short.readText().then((reply) => `short: ${reply}`),
  ]);
  assertEquals(first, "short: OK 1");
});

Deno.test("COUNT work waiting is bounded: past --workers × 60 s it is ERR busy at once", async () => {
  await using server = await TestServer.start(["--workers", "1", "--drain-timeout", "0.2"]);
  using first = await TestClient.connect(server.port);
  using second = await TestClient.connect(server.port);
  await first.send("COUNT 0 60 1000");
  await eventually(
    async () => parseStats(await second.ask("STATS")).jobs_running === 1,
    "the first COUNT to start",
  );
  assertEquals(
    await deadline(second.ask("COUNT 0 2 1000"), 10_000),
    "ERR busy job queue full (60 s of work waiting); try again later",
  );
  // Jobs of no work-ms are bounded by their number instead: a few still get in.
  assertEquals(await second.ask("COUNT 0 5 0"), "OK 5", "a short zero-work COUNT still runs");
});

Deno.test("clients that queue long COUNTs and leave cannot pin the running set", async () => {
  await using server = await TestServer.start([
    "--workers",
    "1",
    "--max-running",
    "4",
    "--drain-timeout",
    "0.2",
  ]);
  for (let i = 0; i < 4; i++) {
    using leaver = await TestClient.connect(server.port);
    await leaver.send("COUNT 0 60 1000");
    await leaver.closeWrite(); // a clean close: it could be a half-close owed its reply
    if (i === 0) {
      // Connections on other network threads could be served before it: let it start first.
      using probe = await TestClient.connect(server.port);
      await eventually(
        async () => parseStats(await probe.ask("STATS")).jobs_running === 1,
        "the first COUNT to start",
      );
    } else {
      assertEquals(
        await leaver.readText(),
        "ERR busy job queue full (60 s of work waiting); try again later",
      );
    }
  }
  using bystander = await TestClient.connect(server.port);
  // One leaver's COUNT may still run; the other slots freed at once.
  assertEquals(await deadline(bystander.ask("PING"), 10_000), "OK PONG");
  assertLessOrEqual(parseStats(await bystander.ask("STATS")).running, 2);
});
