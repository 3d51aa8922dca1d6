/** End to end: admission by the Manager (docs/protocol.md#admission-the-queue-and-its-limits) against a real server process. */
import { assertEquals, assertMatch } from "@std/assert";
import { eventually, parseStats, TestClient, TestServer } from "./helpers.ts";

Deno.test("a queued client's requests are kept and answered in order once a slot frees", async () => {
  await using server = await TestServer.start(["--max-running", "2"]);
  using first = await TestClient.connect(server.port);
  using probe = await TestClient.connect(server.port);
  assertEquals(await first.ask("PING"), "OK PONG");
  assertEquals(await probe.ask("PING"), "OK PONG");
  using waiting = await TestClient.connect(server.port);
  await waiting.write("PING one\nECHO two\nCALC add 1 2\n");
  await eventually(
    async () => (await probe.ask("WHO")).includes(" queued "),
    "the third client to queue",
  );
  const who = (await probe.ask("WHO")).split("\n");
  assertMatch(who[3]!, /^\d+ 127\.0\.0\.1:\d+ queued - /);
  // Nothing is answered while queued...
  assertEquals(parseStats(await probe.ask("STATS")).queued, 1);
  // ...and everything, in order, the moment a slot frees.
  assertEquals(await first.ask("QUIT"), "OK bye");
  assertEquals(await waiting.readText(), "OK one");
  assertEquals(await waiting.readText(), "OK two");
  assertEquals(await waiting.readText(), "OK 3");
});

Deno.test("queue full: the newcomer gets ERR busy with the counts and is closed", async () => {
  await using server = await TestServer.start(["--max-running", "1", "--queue-limit", "1"]);
  using running = await TestClient.connect(server.port);
  assertEquals(await running.ask("PING"), "OK PONG");
  using queued = await TestClient.connect(server.port);
  await server.waitForLog(/client queued/);
  using refused = await TestClient.connect(server.port);
  assertEquals(await refused.readText(), "ERR busy server full (1 running, 1 queued)");
  await refused.closedByServer();
  // The others carry on: the queued one gets in when the first leaves.
  await queued.send("PING");
  assertEquals(await running.ask("QUIT"), "OK bye");
  assertEquals(await queued.readText(), "OK PONG");
  const s = parseStats(await queued.ask("STATS"));
  assertEquals([s.accepted_total, s.rejected_total, s.served_total], [3, 1, 1]);
});

Deno.test("max-per-ip refuses a further connection from the same address", async () => {
  await using server = await TestServer.start(["--max-per-ip", "2", "--max-running", "1"]);
  using a = await TestClient.connect(server.port);
  assertEquals(await a.ask("PING"), "OK PONG");
  using b = await TestClient.connect(server.port); // queued: still counts
  await server.waitForLog(/client queued/);
  using c = await TestClient.connect(server.port);
  assertEquals(await c.readText(), "ERR busy too many connections from your address");
  await c.closedByServer();
  assertEquals(await a.ask("QUIT"), "OK bye");
  assertEquals(await b.ask("PING"), "OK PONG");
});

Deno.test("queue timeout: a client that waits too long gets ERR timeout and is closed", async () => {
  await using server = await TestServer.start(["--max-running", "1", "--queue-timeout", "0.3"]);
  using running = await TestClient.connect(server.port);
  assertEquals(await running.ask("PING"), "OK PONG");
  using waiting = await TestClient.connect(server.port);
  await waiting.send("PING");
  assertEquals(await waiting.readText(), "ERR timeout waited 0.3 s for a free slot");
  await waiting.closedByServer();
  const s = parseStats(await running.ask("STATS"));
  assertEquals([s.timeouts_total, s.queued], [1, 0]);
});

Deno.test("a queued client that hangs up leaves the queue at once and never takes a slot", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  using running = await TestClient.connect(server.port);
  assertEquals(await running.ask("PING"), "OK PONG");
  const quitter = await TestClient.connect(server.port);
  using next = await TestClient.connect(server.port);
  await eventually(
    () => server.log.filter((l) => l.includes("client queued")).length === 2,
    "two queued",
  );
  quitter.close();
  await server.waitForLog(/client left the queue/);
  assertEquals(parseStats(await running.ask("STATS")).queued, 1);
  await next.send("PING");
  assertEquals(await running.ask("QUIT"), "OK bye");
  assertEquals(await next.readText(), "OK PONG");
  assertEquals(parseStats(await next.ask("STATS")).served_total, 1, "the quitter was never served");
});

Deno.test("a client that half-closes gets the replies to everything it sent", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  using running = await TestClient.connect(server.port);
  assertEquals(await running.ask("PING"), "OK PONG");
  // Queued and half-closed: it still deserves its replies.
  using queued = await TestClient.connect(server.port);
  await queued.write("ECHO a\nECHO b\nECHO unterminated");
  await queued.closeWrite();
  await server.waitForLog(/client queued/);
  assertEquals(await running.ask("QUIT"), "OK bye");
  assertEquals(await queued.readText(), "OK a");
  assertEquals(await queued.readText(), "OK b");
  assertEquals(await queued.readText(), "OK unterminated");
  await queued.closedByServer();
});

Deno.test("idle timeout closes a silent running client but not a queued one", async () => {
  await using server = await TestServer.start(["--max-running", "1", "--idle-timeout", "0.5"]);
  using first = await TestClient.connect(server.port);
  assertEquals(await first.ask("PING"), "OK PONG");
  using second = await TestClient.connect(server.port);
  await second.send("PING");
  // The first falls silent: it times out, and the second (waiting longer than
  // the idle timeout by then) starts without being timed out for its wait.
  assertEquals(await first.readText(), "ERR timeout no request for 0.5 s; closing");
  await first.closedByServer();
  assertEquals(await second.readText(), "OK PONG");
  assertEquals(await second.ask("PING"), "OK PONG");
  assertEquals(parseStats(await second.ask("STATS")).timeouts_total, 1);
});

Deno.test("twenty clients queued behind max-running 1 are each served in turn", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  const clients = await Promise.all(
    Array.from({ length: 20 }, () => TestClient.connect(server.port)),
  );
  try {
    await Promise.all(clients.map((c, i) => c.send(`ECHO ${i}\nQUIT`)));
    // Each client is served only after the one before it quit; all 20 finish.
    for (const [i, c] of clients.entries()) {
      assertEquals(await c.readText(), `OK ${i}`);
      assertEquals(await c.readText(), "OK bye");
    }
  } finally {
    for (const c of clients) c.close();
  }
});
