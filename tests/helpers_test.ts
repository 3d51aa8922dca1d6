/**
 * The test helpers fail instead of hanging: a read from a server that no
 * longer answers, a program that never ends and a server that never exits
 * each end in an error that says what was awaited.
 */
import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import { run, TestClient, TestServer } from "./helpers.ts";

Deno.test("a read from a server that stopped answering fails, naming the request", async () => {
  await using server = await TestServer.start();
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask("PING"), "OK PONG");
  await server.freeze();
  try {
    const error = await assertRejects(() => client.ask("ECHO still there?", { timeoutMs: 300 }));
    assertMatch(
      String(error),
      /waited 300 ms for reply 2 on this connection; the last request sent began "ECHO still there\?"/,
    );
  } finally {
    server.signal("SIGCONT");
  }
});

Deno.test("a server that does not exit fails exited(), showing its log", async () => {
  await using server = await TestServer.start();
  await server.freeze();
  try {
    const error = await assertRejects(() => server.exited(300));
    assertMatch(String(error), /waited 300 ms for the server to exit; its log:\n.*listening on/);
  } finally {
    server.signal("SIGCONT");
  }
});

Deno.test("run() kills a program that outlives its deadline and shows what it printed", async () => {
  const error = await assertRejects(() =>
    run("sh", ["-c", "echo started; exec sleep 30"], undefined, { timeoutMs: 500 })
  );
  assertMatch(
    String(error),
    /waited 500 ms for sh -c echo started; exec sleep 30 to end; it printed:\nstarted/,
  );
});
