/**
 * End to end: the door before the Manager (docs/security.md) — protected mode, the
 * address lists, and the startup warnings — against a real server. A
 * client bound to 127.0.0.2 plays a peer from another machine: it is not
 * local, though it never leaves this one.
 */
import { assertEquals } from "@std/assert";
import { parseStats, TestClient, TestServer } from "./helpers.ts";

const PROTECTED =
  "ERR denied protected mode: this server has no users; add --users FILE, or bind 127.0.0.1, or pass --insecure";
const NOT_ALLOWED = "ERR denied your address is not allowed";

/** What a client at `from` is answered to PING (it sends before reading, as real clients do). */
async function pingFrom(port: number, from: string): Promise<string> {
  using client = from === "127.0.0.1"
    ? await TestClient.connect(port)
    : await TestClient.connectFrom(port, from);
  return await client.ask("PING");
}

Deno.test("--host 0.0.0.0 and no other option: a 127.0.0.2 client gets the protected-mode line, 127.0.0.1 works as before", async () => {
  await using server = await TestServer.start(["--host", "0.0.0.0"]);
  // Logged right after the listening line that TestServer.start waits for.
  await server.waitForLog(
    /WARN {2}protected mode: 0\.0\.0\.0:\d+ is reachable from other machines but there is no --users, so clients that are not on this machine \(127\.0\.0\.1, ::1\) will be refused; add --users FILE, or pass --insecure$/,
  );
  {
    using remote = await TestClient.connectFrom(server.port, "127.0.0.2");
    await remote.send("PING");
    assertEquals(await remote.readText(), PROTECTED);
    await remote.closedByServer();
  }
  using local = await TestClient.connect(server.port);
  assertEquals(await local.ask("PING"), "OK PONG");
  assertEquals(await local.ask("CALC add 2 3"), "OK 5");
  const stats = parseStats(await local.ask("STATS"));
  // The refused client never reached the Manager.
  assertEquals([stats.denied_total, stats.accepted_total, stats.rejected_total], [1, 1, 0]);
  await server.waitForLog(/connection denied address=127\.0\.0\.2:\d+ reason="protected mode"/);
});

Deno.test("protected mode refuses non-local clients on a loopback bind too, without a startup warning", async () => {
  await using server = await TestServer.start([]);
  assertEquals(await pingFrom(server.port, "127.0.0.2"), PROTECTED);
  assertEquals(await pingFrom(server.port, "127.0.0.1"), "OK PONG");
  await server.waitForLog(/I\/O scheduling/); // the last startup line: a warning would come before it
  server.assertLogged(/WARN/, false);
});

Deno.test("--insecure serves a non-local client, and warns at startup when the port is exposed", async () => {
  await using server = await TestServer.start(["--host", "0.0.0.0", "--insecure"]);
  await server.waitForLog(
    /WARN {2}--insecure: anyone who can reach 0\.0\.0\.0:\d+ can read, change and delete every file and key/,
  );
  assertEquals(await pingFrom(server.port, "127.0.0.2"), "OK PONG");
});

Deno.test("--deny refuses a matching address before protected mode, and counts it in denied_total", async () => {
  await using server = await TestServer.start(["--deny", "127.0.0.3,10.0.0.0/8"]);
  assertEquals(await pingFrom(server.port, "127.0.0.3"), NOT_ALLOWED);
  // Not denied, but not local either: protected mode still applies.
  assertEquals(await pingFrom(server.port, "127.0.0.2"), PROTECTED);
  using local = await TestClient.connect(server.port);
  assertEquals(parseStats(await local.ask("STATS")).denied_total, 2);
});

Deno.test("--allow admits only its ranges, and --deny wins over it", async () => {
  await using server = await TestServer.start([
    "--insecure",
    "--allow",
    "127.0.0.0/30",
    "--deny",
    "127.0.0.2",
  ]);
  assertEquals(await pingFrom(server.port, "127.0.0.1"), "OK PONG");
  assertEquals(await pingFrom(server.port, "127.0.0.3"), "OK PONG");
  assertEquals(await pingFrom(server.port, "127.0.0.2"), NOT_ALLOWED);
  assertEquals(await pingFrom(server.port, "127.0.0.5"), NOT_ALLOWED);
});

Deno.test("a denied client never takes a queue place: it gets ERR denied, not ERR busy", async () => {
  await using server = await TestServer.start(["--max-running", "1", "--queue-limit", "1"]);
  using running = await TestClient.connect(server.port);
  assertEquals(await running.ask("PING"), "OK PONG");
  using queued = await TestClient.connect(server.port);
  await server.waitForLog(/client queued/);
  // The queue is full; a remote client is still told why it is refused, and no count moves.
  assertEquals(await pingFrom(server.port, "127.0.0.2"), PROTECTED);
  const stats = parseStats(await running.ask("STATS"));
  assertEquals(
    [stats.running, stats.queued, stats.accepted_total, stats.rejected_total, stats.denied_total],
    [1, 1, 2, 0, 1],
  );
  assertEquals(await running.ask("QUIT"), "OK bye");
  assertEquals(await queued.ask("PING"), "OK PONG");
});

/** True where this machine has IPv6 loopback (containers may not). */
function hasIpv6(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "on a dual-stack :: bind, 127.0.0.1 (seen as ::ffff:127.0.0.1) and ::1 are local, 127.0.0.2 is not",
  ignore: !hasIpv6(),
  async fn() {
    await using server = await TestServer.start(["--host", "::"]);
    assertEquals(await pingFrom(server.port, "127.0.0.1"), "OK PONG");
    assertEquals(await pingFrom(server.port, "127.0.0.2"), PROTECTED);
    using v6 = await TestClient.connectTo("::1", server.port);
    assertEquals(await v6.ask("PING"), "OK PONG");
    await server.waitForLog(/connection denied address=\[::ffff:127\.0\.0\.2\]:\d+/);
  },
});
