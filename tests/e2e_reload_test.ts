/**
 * End to end: SIGHUP (docs/security.md) re-reads the users file and the TLS
 * certificate and key; a reload that fails keeps what was loaded and logs
 * one error line; connections already authenticated keep their user.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { tempDir, TestClient, TestServer } from "./helpers.ts";
import { makeTlsFixture } from "./tls_fixtures.ts";
import { ADA, authLine, BOB, writeUsers } from "./users_fixtures.ts";

const WRONG = "ERR denied wrong name or password";

/** Sends SIGHUP and waits for the `count`-th log line matching `done`. */
async function reload(server: TestServer, done: RegExp, count: number): Promise<void> {
  server.signal("SIGHUP");
  const deadline = Date.now() + 10_000;
  while (server.log.filter((line) => done.test(line)).length < count) {
    if (Date.now() > deadline) throw new Error(`no reload line ${done}:\n${server.log.join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("SIGHUP adds a user; a connection authenticated before keeps its user", async () => {
  await using dir = await tempDir();
  const usersFile = `${dir.path}/users`;
  await writeUsers(usersFile, [ADA]);
  await using server = await TestServer.start(["--users", usersFile]);
  using ada = await TestClient.connect(server.port);
  assertEquals(await ada.ask(authLine(ADA)), "OK welcome ada write");
  using bob = await TestClient.connect(server.port);
  assertEquals(await bob.ask(authLine(BOB)), WRONG);
  // ada leaves the file, bob joins it.
  await writeUsers(usersFile, [BOB]);
  await reload(server, /INFO {2}users reloaded file=\S+ users=1 removed=ada$/, 1);
  assertEquals(await bob.ask(authLine(BOB)), "OK welcome bob read");
  assertEquals(await ada.ask("KV SET k v"), "OK");
  using late = await TestClient.connect(server.port);
  assertEquals(await late.ask(authLine(ADA)), WRONG);
});

Deno.test("SIGHUP with a broken users file keeps the old users and logs one error line", async () => {
  await using dir = await tempDir();
  const usersFile = `${dir.path}/users`;
  await writeUsers(usersFile, [ADA, BOB]);
  await using server = await TestServer.start(["--users", usersFile]);
  await Deno.writeTextFile(usersFile, "ada write not-a-hash\n");
  await reload(server, /ERROR reload of the users file failed/, 1);
  const errors = server.log.filter((line) => line.includes(" ERROR "));
  assertEquals(errors.length, 1);
  assertEquals(
    errors[0]!.replace(/^\S+ /, ""),
    `ERROR reload of the users file failed; the 2 users loaded before stay in force error="users file ${
      JSON.stringify(usersFile).replaceAll('"', '\\"')
    } line 1: hash must look like scrypt$N$r$p$salt$key (write it with switchboard-server passwd)"`,
  );
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask(authLine(BOB)), "OK welcome bob read");
});

Deno.test("SIGHUP with an emptied users file keeps the old users and logs one error line", async () => {
  await using dir = await tempDir();
  const usersFile = `${dir.path}/users`;
  await writeUsers(usersFile, [ADA, BOB]);
  await using server = await TestServer.start(["--users", usersFile]);
  using ada = await TestClient.connect(server.port);
  for (const [text, count] of [["", 1], ["# everyone left\n\n  # really\n", 2]] as const) {
    await Deno.writeTextFile(usersFile, text);
    await reload(server, /ERROR reload of the users file failed/, count);
    const errors = server.log.filter((line) => line.includes(" ERROR "));
    assertEquals(errors.length, count);
    assertEquals(
      errors.at(-1)!.replace(/^\S+ /, ""),
      `ERROR reload of the users file failed; the 2 users loaded before stay in force error="users file ${
        JSON.stringify(usersFile).replaceAll('"', '\\"')
      }: no users (empty or only comments)"`,
    );
    assertEquals(await ada.ask(authLine(ADA)), "OK welcome ada write", "the users stay in force");
  }
  assertEquals(server.log.filter((line) => line.includes("users reloaded")).length, 0);
});

Deno.test("a reload that removes users names them in its log line", async () => {
  await using dir = await tempDir();
  const usersFile = `${dir.path}/users`;
  await writeUsers(usersFile, [ADA, BOB]);
  await using server = await TestServer.start(["--users", usersFile]);
  await writeUsers(usersFile, [ADA]);
  await reload(server, /users reloaded/, 1);
  server.assertLogged(/INFO {2}users reloaded file=\S+ users=1 removed=bob$/);
  await writeUsers(usersFile, [ADA, BOB]);
  await reload(server, /users reloaded/, 2);
  assertEquals(server.log.filter((line) => /users reloaded .* users=2$/.test(line)).length, 1);
});

Deno.test("SIGHUP swaps the TLS certificate for new connections; a broken one keeps the old", async () => {
  await using dir = await tempDir();
  await using first = await makeTlsFixture();
  await using second = await makeTlsFixture(); // another CA altogether
  const cert = `${dir.path}/cert.pem`;
  const key = `${dir.path}/key.pem`;
  await Deno.copyFile(first.certPath, cert);
  await Deno.copyFile(first.keyPath, key);
  await using server = await TestServer.start(["--tls-cert", cert, "--tls-key", key]);
  using before = await TestClient.connectTls(server.port, first.caCertPem);
  assertEquals(await before.ask("PING"), "OK PONG");
  await assertRejects(() => TestClient.connectTls(server.port, second.caCertPem));

  await Deno.copyFile(second.certPath, cert);
  await Deno.copyFile(second.keyPath, key);
  await reload(server, /INFO {2}TLS certificate reloaded subject="CN=localhost"/, 1);
  using after = await TestClient.connectTls(server.port, second.caCertPem);
  assertEquals(await after.ask("PING"), "OK PONG");
  await assertRejects(() => TestClient.connectTls(server.port, first.caCertPem));
  // The session made before the swap goes on.
  assertEquals(await before.ask("ECHO still here"), "OK still here");

  // Nothing changed: the port is left as it is.
  await reload(server, /INFO {2}TLS certificate unchanged subject="CN=localhost"$/, 1);
  assertEquals(server.log.filter((line) => line.includes("TLS certificate reloaded")).length, 1);

  // A key that does not match: the reload fails, the second certificate stays.
  await Deno.copyFile(first.keyPath, key);
  await reload(server, /ERROR reload of the TLS certificate failed/, 1);
  using third = await TestClient.connectTls(server.port, second.caCertPem);
  assertEquals(await third.ask("PING"), "OK PONG");
});

Deno.test("SIGHUP without --users or a certificate changes nothing and says so", async () => {
  await using server = await TestServer.start([]);
  await reload(server, /INFO {2}SIGHUP: nothing to reload/, 1);
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask("PING"), "OK PONG");
});
