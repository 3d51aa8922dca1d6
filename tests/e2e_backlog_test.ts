/**
 * `--backlog` (docs/server.md#server-options): the listen queue the kernel
 * keeps for the protocol port, plain and TLS, is the one asked for (read
 * back with `ss`, whose Send-Q of a listening socket is its backlog), and
 * a burst of connections larger than Deno's default of 511 is answered,
 * every one. How long the burst takes is the bench's S4 row, not a test.
 */
import { assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { TestServer } from "./test_server.ts";
import { TestClient } from "./test_client.ts";
import { makeTlsFixture, tlsServerArgs } from "./tls_fixtures.ts";
import { readProc } from "./procfs.ts";

/** Linux's cap on every listen queue. */
function somaxconn(): number {
  return Number(readProc("/proc/sys/net/core/somaxconn").trim());
}

/** The listen queue of the socket listening on `port`, as the kernel reports it. */
async function listenQueue(port: number): Promise<number> {
  const { stdout } = await new Deno.Command("ss", { args: ["-Hltn", `sport = :${port}`] }).output();
  const columns = new TextDecoder().decode(stdout).trim().split(/\s+/);
  // State Recv-Q Send-Q Local Peer: for a listener, Send-Q is the backlog.
  return Number(columns[2]);
}

Deno.test("--backlog sets the listen queue of the plain and the TLS port, 4096 by default (capped by somaxconn)", async () => {
  {
    await using server = await TestServer.start([]);
    assertEquals(await listenQueue(server.port), Math.min(4096, somaxconn()));
  }
  {
    await using server = await TestServer.start(["--backlog", "100"]);
    assertEquals(await listenQueue(server.port), 100);
  }
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([...tlsServerArgs(fixture), "--backlog", "200"]);
  assertEquals(await listenQueue(server.port), 200);
});

Deno.test("a --backlog above net.core.somaxconn gets one line naming the cap, where the server may read it", async () => {
  const cap = somaxconn();
  const asked = Math.min(cap + 1, 65535);
  if (asked <= cap) return; // somaxconn at the option's maximum: nothing can be capped
  // Deno lets only --allow-all read /proc; without it the server cannot know the cap and says nothing.
  await using server = await TestServer.start(["--backlog", String(asked)], {
    permissions: ["--allow-all"],
  });
  await server.waitForLog(
    new RegExp(
      `INFO {2}--backlog ${asked} is capped by the kernel at ${cap} \\(net\\.core\\.somaxconn\\)`,
    ),
  );
  assertEquals(await listenQueue(server.port), cap);
  await using quiet = await TestServer.start(["--backlog", String(asked)]);
  // The line would come right after "listening"; a client served later shows it did not.
  using client = await TestClient.connect(quiet.port);
  assertEquals(await client.ask("PING"), "OK PONG");
  await quiet.waitForLog(/connection opened/);
  quiet.assertLogged(/capped by the kernel/, false);
});

Deno.test("a burst of 1,200 connections at once is answered, every one", async () => {
  const burst = 1200;
  await using server = await TestServer.start(["--max-running", String(burst)], {
    wrap: ["prlimit", `--nofile=${burst * 3}`],
  });
  const ping = new TextEncoder().encode("PING\n");
  const answers = await Promise.all(Array.from({ length: burst }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      await conn.write(ping);
      const reply = new Uint8Array(16);
      // Generous: a SYN the kernel dropped is retried after 1 s, then 3 s.
      const n = await deadline(conn.read(reply), 30_000).catch(() => null);
      return new TextDecoder().decode(reply.subarray(0, n ?? 0));
    } finally {
      conn.close();
    }
  }));
  assertEquals(answers.filter((a) => a === "OK PONG\n").length, burst, "every one answered");
});
