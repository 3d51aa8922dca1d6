/** End to end: COUNT on the worker threads (docs/protocol.md#commands COUNT). */
import { assert, assertEquals, assertGreater, assertLess, assertMatch } from "@std/assert";
import { delay } from "@std/async/delay";
import { eventually, parseStats, repoPath, run, TestClient, TestServer } from "./helpers.ts";

Deno.test("COUNT adds its increments to start, exactly, for any start", async () => {
  await using server = await TestServer.start(["--workers", "2"]);
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask("COUNT 2 10"), "OK 12");
  assertEquals(await client.ask("count -5 0"), "OK -5");
  assertEquals(
    await client.ask("COUNT 99999999999999999999999999 7 1"),
    "OK 100000000000000000000000006",
  );
  assertEquals(await client.ask("COUNT -9223372036854775808 3"), "OK -9223372036854775805");
  assertEquals(await client.ask("COUNT 0 2000"), "OK 2000");
  const stats = parseStats(await client.ask("STATS"));
  assertEquals([stats.workers, stats.jobs_total, stats.jobs_running, stats.jobs_queued], [
    2,
    2020,
    0,
    0,
  ]);
});

Deno.test("COUNT refuses bad arguments with the allowed range", async () => {
  await using server = await TestServer.start();
  using client = await TestClient.connect(server.port);
  const cases: Array<[string, string]> = [
    ["COUNT 1", "ERR bad-args COUNT takes <start> <increments> [<work-ms>], got 1 argument"],
    ["COUNT 1 2 3 4", "ERR bad-args COUNT takes <start> <increments> [<work-ms>], got 4 arguments"],
    ["COUNT x 2", 'ERR bad-args start must be an integer (any length): received "x"'],
    ["COUNT 0 -1", 'ERR bad-args increments must be an integer from 0 to 1000000: received "-1"'],
    [
      "COUNT 0 1000001",
      'ERR bad-args increments must be an integer from 0 to 1000000: received "1000001"',
    ],
    [
      "COUNT 0 1 10001",
      'ERR bad-args work-ms must be an integer from 0 to 10000: received "10001"',
    ],
    [
      "COUNT 0 7 10000",
      "ERR bad-args increments × work-ms must be at most 60000: received 7 × 10000 = 70000",
    ],
  ];
  for (const [line, reply] of cases) assertEquals(await client.ask(line), reply);
  assertEquals(await client.ask("COUNT 0 60 0"), "OK 60");
});

Deno.test("a long COUNT never holds up another client's PING", async () => {
  await using server = await TestServer.start(["--workers", "2"]);
  using counter = await TestClient.connect(server.port);
  using pinger = await TestClient.connect(server.port);
  await counter.send("COUNT 0 20 100");
  await eventually(
    async () => parseStats(await pinger.ask("STATS")).jobs_running > 0,
    "jobs to start",
  );
  // Ordering, not timing: the PING is answered while the COUNT is still running.
  assertEquals(await pinger.ask("PING"), "OK PONG");
  const stats = parseStats(await pinger.ask("STATS"));
  assertGreater(stats.jobs_queued + stats.jobs_running, 0, "the COUNT was still in progress");
  assertEquals(await counter.readText(), "OK 20");
});

/**
 * A client whose `COUNT 0 500 50` waits behind the one worker, and a probe
 * client. An unread reply in the leaver's receive buffer makes its close()
 * send a reset: a real disconnect. It never reads (a read could take more
 * than it returns), and the server flushes the PONG before the COUNT starts,
 * so once the jobs are queued the PONG is waiting in its buffer.
 */
async function leaverWithQueuedCount(
  server: TestServer,
): Promise<{ leaver: TestClient; probe: TestClient }> {
  const leaver = await TestClient.connect(server.port);
  await leaver.write("PING\nCOUNT 0 500 50\n");
  // The leaver is client 1 (the log lines below name it so): accepted before the probe
  // connects, which on two network threads could otherwise be accepted first.
  await server.waitForLog(/connection opened client=1 /);
  const probe = await TestClient.connect(server.port);
  await eventually(
    async () => parseStats(await probe.ask("STATS")).jobs_queued > 400,
    "jobs to queue",
  );
  return { leaver, probe };
}

/** Waits for the leaver's queued jobs to be cancelled; if they are not, says what the server saw of it. */
async function queueDrains(server: TestServer, probe: TestClient): Promise<void> {
  await eventually(
    async () => parseStats(await probe.ask("STATS")).jobs_queued === 0,
    "the queue to drain",
  ).catch((error) => {
    const seen = server.log.filter((line) => /client=1\b/.test(line) && !/request/.test(line));
    throw new Error(`${error.message}; the server's log of that client:\n${seen.join("\n")}`);
  });
}

Deno.test("a client that disconnects mid-COUNT cancels its queued jobs; the server stays healthy", async () => {
  await using server = await TestServer.start(["--workers", "1", "-v"]);
  const { leaver, probe } = await leaverWithQueuedCount(server);
  using _probe = probe;
  leaver.close();
  await queueDrains(server, probe);
  const stats = parseStats(await probe.ask("STATS"));
  assertLess(stats.jobs_total, 100, `only the jobs already started ran: ${stats.jobs_total}`);
  assertEquals(await probe.ask("COUNT 1 5"), "OK 6");
});

Deno.test("a client that half-closes and resets a moment later still cancels its queued jobs", async () => {
  await using server = await TestServer.start(["--workers", "1", "-v"]);
  const { leaver, probe } = await leaverWithQueuedCount(server);
  using _probe = probe;
  // A FIN first, the reset (the unread PONG) 100 ms later: the server sees
  // end of input, and must not take it for a half-close that is owed a reply.
  await leaver.closeWrite();
  await delay(100);
  leaver.close();
  await queueDrains(server, probe);
  await server.waitForLog(/client gone during a command client=1$/);
  server.assertLogged(/half-closed during a command/, false);
});

Deno.test("on shutdown a running COUNT finishes, then the client hears shutdown", async () => {
  await using server = await TestServer.start(["--workers", "2"]);
  using counter = await TestClient.connect(server.port);
  using probe = await TestClient.connect(server.port);
  await counter.send("COUNT 0 10 100");
  await eventually(
    async () => parseStats(await probe.ask("STATS")).jobs_running > 0,
    "jobs to start",
  );
  server.signal("SIGTERM");
  assertEquals(await counter.readText(), "OK 10");
  assertEquals(await counter.readText(), "ERR shutdown server is shutting down");
  assertEquals((await server.exited()).code, 0);
});

Deno.test("client count runs COUNT with --work-ms", async () => {
  await using server = await TestServer.start();
  const result = await run(Deno.execPath(), [
    "run",
    "--allow-net",
    repoPath("client.ts"),
    "count",
    "5",
    "3",
    "--work-ms",
    "10",
    "--port",
    String(server.port),
  ]);
  assertEquals(result, { code: 0, stdout: "8\n", stderr: "" });
});

Deno.test("with -v every COUNT job is logged: which of how many, client, worker, work, value seen", async () => {
  await using server = await TestServer.start(["-v", "--workers", "1"]);
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask("COUNT 0 3 5"), "OK 3");
  for (const n of [1, 2, 3]) {
    await server.waitForLog(
      new RegExp(`DEBUG job ${n}/3 client=\\d+ worker=1 work_ms=5 seen=${n}$`),
    );
  }
});

Deno.test("a half-closed client (nc -N) still gets its COUNT reply", async () => {
  await using server = await TestServer.start(["--workers", "2"]);
  const { code, stdout } = await run(
    "nc",
    ["-N", "127.0.0.1", String(server.port)],
    "COUNT 0 20 20\nPING\n",
  );
  assertEquals(code, 0);
  assertEquals(stdout, "OK 20\nOK PONG\n");
});

Deno.test("zero-work COUNTs are refused with ERR busy once the jobs waiting would pass 768,000", async () => {
  await using server = await TestServer.start(["--workers", "1"]);
  // 704,000 increments of no work: 55,000 ms of job round trips at 5/64 ms
  // each. Counted by their work-ms alone they cost nothing, and the second
  // COUNT was let in. The leaver never reads, so its close() resets the
  // connection and cancels what is left (see leaverWithQueuedCount).
  const leaver = await TestClient.connect(server.port);
  await leaver.write("PING\nCOUNT 0 704000 0\n");
  using probe = await TestClient.connect(server.port);
  try {
    await eventually(
      async () => parseStats(await probe.ask("STATS")).jobs_queued > 0,
      "jobs to queue",
    );
    // 192,000 more: over the 768,000 jobs until fewer than 576,000 (45,000 ms) of the first are left.
    const reply = await probe.ask("COUNT 0 192000 0");
    const busy = /^ERR busy job queue full \((\d+) s of work waiting\); try again later$/;
    assertMatch(reply, busy);
    const seconds = Number(busy.exec(reply)![1]);
    assert(
      seconds > 45 && seconds <= 55,
      `the work waiting is what is left of the first COUNT, over 45 s: ${seconds} s`,
    );
    assertEquals(await probe.ask("COUNT 0 60 0"), "OK 60", "a COUNT that fits still runs");
  } finally {
    leaver.close();
  }
});
