/**
 * End to end: every bad input of docs/protocol.md#limits-and-bad-input gets its clear error, nothing else
 * is lost, and the other clients carry on.
 */
import { assertEquals } from "@std/assert";
import { assertStartsWith, parseStats, TestClient, TestServer } from "./helpers.ts";

/** A bystander with a request in flight must be unaffected by whatever `attack` does. */
async function bystanderCarriesOn(port: number, attack: () => Promise<void>): Promise<void> {
  using bystander = await TestClient.connect(port);
  assertEquals(await bystander.ask("ECHO before"), "OK before");
  await attack();
  assertEquals(await bystander.ask("ECHO after"), "OK after");
  assertEquals(await bystander.ask("CALC add 40 2"), "OK 42");
}

Deno.test("a line longer than --max-line gets ERR line-too-long and is closed", async () => {
  await using server = await TestServer.start(["--max-line", "100"]);
  await bystanderCarriesOn(server.port, async () => {
    using client = await TestClient.connect(server.port);
    assertEquals(await client.ask("ECHO " + "x".repeat(95)), "OK " + "x".repeat(95));
    await client.send("PING before");
    await client.send("ECHO " + "y".repeat(96));
    assertEquals(
      await client.readText(),
      "OK before",
      "requests before the long line are answered",
    );
    assertEquals(
      await client.readText(),
      "ERR line-too-long request line exceeds 100 bytes; the limit is --max-line 100",
    );
    await client.closedByServer();
  });
});

Deno.test("megabytes without a LF are refused early, not buffered", async () => {
  await using server = await TestServer.start(["--max-line", "1000"]);
  await bystanderCarriesOn(server.port, async () => {
    using client = await TestClient.connect(server.port);
    const junk = new Uint8Array(4 * 1024 * 1024).fill(0x41);
    // The server closes after ~1000 bytes, so this write may fail part-way.
    await client.write(junk).catch(() => {});
    assertEquals(
      await client.readText(),
      "ERR line-too-long request line exceeds 1000 bytes; the limit is --max-line 1000",
    );
  });
});

Deno.test("invalid UTF-8, NUL bytes and bad quotes get ERR bad-request and the connection stays usable", async () => {
  await using server = await TestServer.start();
  await bystanderCarriesOn(server.port, async () => {
    using client = await TestClient.connect(server.port);
    await client.write(new Uint8Array([0x45, 0x43, 0x48, 0x4f, 0x20, 0xff, 0xfe, 0x0a]));
    assertEquals(await client.readText(), "ERR bad-request line is not valid UTF-8");
    await client.write(new Uint8Array([0x50, 0x49, 0x4e, 0x47, 0x00, 0x0a]));
    assertEquals(await client.readText(), "ERR bad-request line contains a NUL byte");
    assertEquals(
      await client.ask('HELLO "Ada 1 gh'),
      "ERR bad-request unbalanced quote: the word at column 7 never closes",
    );
    assertEquals(
      await client.ask(String.raw`HELLO "a\n" 1 gh`),
      String
        .raw`ERR bad-request bad escape \n at column 9: inside quotes only \" and \\ are escapes`,
    );
    const garbage = crypto.getRandomValues(new Uint8Array(5000)).map((b) => b === 10 ? 0 : b);
    await client.write(garbage);
    await client.write("\n");
    assertStartsWith(await client.readText(), "ERR bad-request");
    assertEquals(await client.ask("PING"), "OK PONG");
  });
});

Deno.test("a client that vanishes mid-request costs nothing but its own request", async () => {
  await using server = await TestServer.start();
  await bystanderCarriesOn(server.port, async () => {
    const reset = await TestClient.connect(server.port);
    await reset.write("ECHO half a requ");
    reset.close();
    const halfway = await TestClient.connect(server.port);
    await halfway.write("PING\nPING\nPING\nPI");
    halfway.close(); // gone without reading its replies
  });
  await server.waitForLog(/client closed client=3 /);
  using client = await TestClient.connect(server.port);
  const stats = parseStats(await client.ask("STATS"));
  assertEquals(stats.served_total, 3);
  assertEquals(stats.running, 1);
});

Deno.test("bad arguments name the allowed form", async () => {
  await using server = await TestServer.start();
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask("ECHO"), "ERR bad-args ECHO takes <text>, got nothing");
  assertEquals(await client.ask("WHO me"), "ERR bad-args WHO takes no arguments, got 1 argument");
  assertEquals(
    await client.ask("STATS x y"),
    "ERR bad-args STATS takes no arguments, got 2 arguments",
  );
  assertEquals(await client.ask("HELP a b"), "ERR bad-args HELP takes [command], got 2 arguments");
  assertEquals(await client.ask("PING"), "OK PONG");
});
