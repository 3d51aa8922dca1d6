/**
 * End to end: the life of a `--threads 2` server (docs/architecture.md#threads):
 * SIGTERM drains every thread, SIGHUP reloads for every thread, bad values
 * are usage errors, and a thread that crashes stops the whole server with
 * one line and exit code 1 (it is not replaced: hub.ts says why).
 */
import { assertEquals, assertMatch } from "@std/assert";
import { repoPath, run, SERVER_PERMISSIONS, tempDir, TestServer } from "./helpers.ts";
import { connectOnThread, TWO_THREADS } from "./threads_helpers.ts";
import { ADA, authLine, BOB, writeUsers } from "./users_fixtures.ts";
import { CRASH_FILE } from "./fixtures/crashing_server.ts";

const SHUTDOWN = "ERR shutdown server is shutting down";

Deno.test("--threads 2: SIGTERM finishes the running requests and refuses the queue on both threads, then exits 0", async () => {
  const server = await TestServer.start([...TWO_THREADS, "--max-running", "2"]);
  await using _server = server;
  const running = [await connectOnThread(server, 0), await connectOnThread(server, 1)];
  const queued = [await connectOnThread(server, 0), await connectOnThread(server, 1)];
  try {
    for (const { id } of queued) await server.waitForLog(new RegExp(`client queued client=${id}$`));
    for (const { client } of running) await client.send("COUNT 0 3 100");
    // Each COUNT is in hand (logged with -v) before the signal.
    for (const { id } of running) {
      await server.waitForLog(new RegExp(`request client=${id} command=COUNT$`));
    }
    server.signal("SIGTERM");
    for (const { client } of running) {
      assertEquals(await client.readText(), "OK 3");
      assertEquals(await client.readText(), SHUTDOWN);
    }
    for (const { client } of queued) assertEquals(await client.readText(), SHUTDOWN);
    assertEquals((await server.exited()).code, 0);
    server.assertLogged(/INFO {2}stopped served_total=\d+$/);
  } finally {
    for (const { client } of [...running, ...queued]) client.close();
  }
});

Deno.test("--threads 2: SIGHUP's new users are in force on every thread", async () => {
  await using dir = await tempDir();
  const usersFile = `${dir.path}/users`;
  await writeUsers(usersFile, [ADA]);
  await using server = await TestServer.start([...TWO_THREADS, "--users", usersFile]);
  const clients = [await connectOnThread(server, 0), await connectOnThread(server, 1)];
  try {
    for (const { client } of clients) {
      assertEquals(await client.ask(authLine(BOB)), "ERR denied wrong name or password");
    }
    await writeUsers(usersFile, [ADA, BOB]);
    server.signal("SIGHUP");
    await server.waitForLog(/INFO {2}users reloaded file=\S+ users=2$/);
    for (const { client } of clients) {
      assertEquals(await client.ask(authLine(BOB)), "OK welcome bob read");
    }
  } finally {
    for (const { client } of clients) client.close();
  }
});

/** Runs the server to its end with `args` and `permissions`; its exit code and stderr. */
async function runServer(args: string[], permissions = SERVER_PERMISSIONS) {
  await using dir = await tempDir();
  return await run(Deno.execPath(), [
    "run",
    "--no-prompt",
    ...permissions,
    repoPath("server.ts"),
    "--port",
    "0",
    "--data",
    `${dir.path}/data`,
    "--root",
    `${dir.path}/files`,
    ...args,
  ]);
}

Deno.test("--threads: 0, a word or a fraction is a usage error naming the option", async () => {
  for (const bad of ["0", "many", "1.5"]) {
    const result = await runServer(["--threads", bad]);
    assertEquals(result.code, 2);
    assertEquals(
      result.stderr.split("\n")[0],
      `error: --threads must be an integer from 1 to 256: received "${bad}"`,
    );
  }
});

Deno.test("--threads 2 where listeners cannot share the port is a usage error that says why", async () => {
  const permissions = SERVER_PERMISSIONS.filter((flag) => flag !== "--unstable-net");
  const result = await runServer(["--threads", "2"], permissions);
  assertEquals(result.code, 2);
  assertEquals(
    result.stderr.split("\n")[0],
    "error: --threads 2 is not possible here: " +
      "listeners sharing a port (SO_REUSEPORT) need Deno's --unstable-net flag",
  );
  // The default falls back to one thread instead.
  const single = await TestServer.start([], { permissions });
  await using _single = single;
  single.assertLogged(/listening on 127\.0\.0\.1:\d+, max 64 running, queue 1024$/);
});

Deno.test("a network thread that crashes stops the server with one line and exit code 1", async () => {
  const server = await TestServer.start([...TWO_THREADS], {
    entry: repoPath("tests/fixtures/crashing_server.ts"),
  });
  await using _server = server;
  const other = await connectOnThread(server, 0);
  using _other = other.client;
  assertEquals(await other.client.ask("PING"), "OK PONG");
  await Deno.writeTextFile(`${server.dir}/files/${CRASH_FILE}`, "");
  const status = await server.exited();
  assertEquals(status.code, 1);
  const errors = server.log.filter((line) => line.startsWith("error:"));
  assertEquals(errors.length, 1, server.log.join("\n"));
  assertMatch(
    errors[0]!,
    /^error: network thread 1 crashed: Uncaught Error: injected crash; the server stops$/,
  );
  // The other thread's client is not left connected to a half-alive server.
  await other.client.closedByServer();
});
