/**
 * End to end: where the server serves from (lib/server/net_thread.ts). With the
 * permission for Deno's I/O event limit it serves from a network thread that
 * has the limit; without it, from the main thread, after one warning.
 */
import { assertEquals, assertMatch } from "@std/assert";
import {
  EVENT_INTERVAL_VARIABLE,
  IO_EVENTS_VARIABLE,
  NET_THREAD_PERMISSION,
  SCHEDULING,
} from "../lib/server/net_thread.ts";
import { repoPath, run, SERVER_PERMISSIONS, TestClient, TestServer } from "./helpers.ts";

/** Serves PING and COUNT (whose workers are nested in the serving thread), then drains on SIGTERM. */
async function servesAndDrains(server: TestServer): Promise<void> {
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask("PING"), "OK PONG");
  assertEquals(await client.ask("COUNT 0 4 1"), "OK 4");
  server.signal("SIGTERM");
  assertEquals(await client.readText(), "ERR shutdown server is shutting down");
  assertEquals((await server.exited()).code, 0);
}

Deno.test("with the permission, the server serves from a network thread with the event limit", async () => {
  await using server = await TestServer.start();
  assertMatch(
    await server.waitForLog(/I\/O scheduling/),
    new RegExp(
      `INFO  I/O scheduling events_per_turn=${SCHEDULING[IO_EVENTS_VARIABLE]} event_interval=${
        SCHEDULING[EVENT_INTERVAL_VARIABLE]
      } thread=network$`,
    ),
  );
  await servesAndDrains(server);
});

Deno.test("a limit the user set is kept, and the server serves from the main thread", async () => {
  await using server = await TestServer.start([], { env: { [IO_EVENTS_VARIABLE]: "32" } });
  assertMatch(
    await server.waitForLog(/I\/O scheduling/),
    /INFO {2}I\/O scheduling events_per_turn=32 event_interval=default thread=main$/,
  );
  await servesAndDrains(server);
});

Deno.test("without the permission, the server warns once and serves from the main thread", async () => {
  const permissions = SERVER_PERMISSIONS.filter((flag) => !flag.startsWith("--allow-env"));
  await using server = await TestServer.start([], { permissions });
  const warning = await server.waitForLog(/I\/O scheduling/);
  assertEquals(
    warning.replace(/^\S+ /, ""),
    `WARN  I/O scheduling is Deno's default: run with ${NET_THREAD_PERMISSION} ` +
      "so that busy clients cannot hold back new ones",
  );
  await servesAndDrains(server);
  assertEquals(server.log.filter((line) => line.includes("I/O scheduling")).length, 1);
});

Deno.test("a server that cannot start in the network thread says why and exits 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir({ prefix: "switchboard-test-" });
  try {
    const result = await run(Deno.execPath(), [
      "run",
      "--no-prompt",
      ...SERVER_PERMISSIONS,
      repoPath("server.ts"),
      String(taken.addr.port),
      "--data",
      `${dir}/data`,
      "--root",
      `${dir}/files`,
    ]);
    assertEquals(result.code, 1);
    assertEquals(
      result.stderr,
      `error: cannot listen on 127.0.0.1:${taken.addr.port}: address already in use\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
