/**
 * Shutdown under real conditions (docs/protocol.md#shutdown): Ctrl-C at a terminal under
 * `deno task server`, a FILE PUT in progress, a request still running when
 * the drain timeout ends.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { concat, repoPath, TestClient, TestServer } from "../helpers.ts";
import { Terminal } from "../terminal.ts";

const encoder = new TextEncoder();

Deno.test("one Ctrl-C on `deno task server` in a terminal drains and exits 0, the KV store closed cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-ctrlc-" });
  try {
    const term = new Terminal(
      `${Deno.execPath()} task server --port 0 --data ${dir}/data --root ${dir}/files`,
      { cwd: repoPath(".") },
    );
    await term.waitFor(/listening on 127\.0\.0\.1:(\d+),/);
    const port = Number(/listening on 127\.0\.0\.1:(\d+),/.exec(term.screen)![1]);
    using c = await TestClient.connect(port);
    assertEquals(await c.ask("KV SET saved yes"), "OK");
    // The terminal's interrupt character: the terminal sends SIGINT to the
    // whole foreground group, and `deno task` forwards one more.
    await term.keys("\x03");
    assertEquals(await c.readText(), "ERR shutdown server is shutting down");
    await term.waitFor("stopped served_total=");
    assertEquals(await term.exit(), 0, term.screen);
    // Closed cleanly: the write-ahead log was folded into the database file.
    const leftovers = [];
    for await (const entry of Deno.readDir(`${dir}/data`)) {
      if (/-wal$|-shm$/.test(entry.name)) leftovers.push(entry.name);
    }
    assertEquals(leftovers, [], "no SQLite journal left beside the database");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("SIGTERM lets a FILE PUT in progress finish, then says shutdown", async () => {
  await using server = await TestServer.start(["--drain-timeout", "20"]);
  using c = await TestClient.connect(server.port);
  const body = new Uint8Array(200_000).fill(65);
  await c.write(
    concat(encoder.encode(`FILE PUT big.bin ${body.length}\n`), body.subarray(0, 100_000)),
  );
  await server.waitForLog(/client started/);
  server.signal("SIGTERM");
  await server.waitForLog(/shutting down/);
  await c.write(body.subarray(100_000));
  assertMatch(await c.readText(), /^OK stored big\.bin 200000 [0-9a-f]{64}$/);
  assertEquals(await c.readText(), "ERR shutdown server is shutting down");
  await c.closedByServer();
  assertEquals((await server.exited()).code, 0);
  assertEquals((await Deno.stat(`${server.dir}/files/big.bin`)).size, 200_000);
});

Deno.test("a request still running at the drain timeout gets ERR shutdown as its reply", async () => {
  await using server = await TestServer.start(["--drain-timeout", "0.3", "--workers", "1"]);
  using c = await TestClient.connect(server.port);
  await c.send("COUNT 0 5 2000");
  await server.waitForLog(/client started/);
  server.signal("SIGTERM");
  assertEquals(await c.readText(), "ERR shutdown server is shutting down");
  await c.closedByServer();
  assertEquals((await server.exited()).code, 0);
});
