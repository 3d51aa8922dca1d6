/**
 * The shell as a newcomer expects it (docs/client.md#the-shell), under a
 * real pseudo-terminal: the prompt names the server, the shell opens with
 * no server up and the next command connects, Tab completes local paths
 * and the server's file names, Ctrl-L clears the screen, a typo gets the
 * command meant, and `noauth` points at --user.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { eventually, tempDir, TestClient, TestServer } from "./helpers.ts";
import {
  clientCommandLine,
  fakeServer,
  homeEnvironment,
  readRequest,
  reply,
  runClient,
} from "./client_helpers.ts";
import { Terminal } from "./terminal.ts";
import { makeTlsFixture, tlsServerArgs } from "./tls_fixtures.ts";
import { ADA, writeUsers } from "./users_fixtures.ts";

/** The client in a terminal that can edit lines, with `home` as its home and working folder. */
async function shell(args: string[], home: string, env: Record<string, string> = {}) {
  return new Terminal(clientCommandLine(args), {
    env: { ...await homeEnvironment(home), TERM: "xterm", INIT_CWD: home, ...env },
    cwd: home,
  });
}

Deno.test("shell prompt names the server, the user and tls", async () => {
  await using fixture = await makeTlsFixture();
  await using home = await tempDir();
  await writeUsers(`${home.path}/users.txt`, [ADA]);
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "--users",
    `${home.path}/users.txt`,
  ]);
  const args = ["--port", String(server.port), "--tls", "--cacert", fixture.caCertPath];
  await using term = await shell([...args, "--user", "ada"], home.path, {
    SWITCHBOARD_PASSWORD: ADA.password,
  });
  await term.waitFor(`switchboard ada@127.0.0.1:${server.port} tls> `);
  await term.type("PING");
  await term.waitFor("PONG\r\n");
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("shell opens with no server up, and the next command connects once one is", async () => {
  await using home = await tempDir();
  // A port nobody listens on now: a server's, after it stopped.
  let port;
  {
    await using gone = await TestServer.start();
    port = gone.port;
  }
  await using term = await shell(["--port", String(port)], home.path);
  await term.waitFor(`error: cannot connect to 127.0.0.1:${port}: connection refused`);
  await term.waitFor("switchboard (not connected)> ");
  await using _server = await TestServer.start([String(port)], { positional: true });
  await term.type("PING");
  await term.waitFor(`connected to 127.0.0.1:${port}\r\nPONG\r\n`);
  await term.waitFor(`switchboard 127.0.0.1:${port}> `);
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("shell Tab completes local paths after put and the server's files after get and rm", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  await Deno.writeTextFile(`${home.path}/notes.txt`, "hello");
  await Deno.mkdir(`${home.path}/drafts`);
  await Deno.writeTextFile(`${home.path}/drafts/plan.md`, "plan");
  using client = await TestClient.connect(server.port);
  await client.write("FILE PUT report-2026.txt 6\nreport");
  assertEquals((await client.readText()).startsWith("OK stored report-2026.txt 6"), true);
  await using term = await shell(["--port", String(server.port)], home.path);
  const prompt = `switchboard 127.0.0.1:${server.port}> `;
  await term.waitFor(prompt);
  // The FILE LIST behind remote completion waits for a reply first: the connection is running.
  await term.type("PING");
  await term.waitFor("PONG\r\n");
  await term.press("put no", "\t");
  await term.waitFor(`${prompt}put notes.txt`);
  await term.keys("\r");
  await term.waitFor(/stored notes\.txt 5 [0-9a-f]{64}\r\n/);
  await term.press("put dr", "\t");
  await term.waitFor(`${prompt}put drafts/`);
  await term.press("p", "\t");
  await term.waitFor(`${prompt}put drafts/plan.md`);
  await term.keys("\r");
  await term.waitFor(/stored plan\.md 4 /);
  await term.press("get rep", "\t");
  await term.waitFor(`${prompt}get report-2026.txt`);
  await term.keys("\r");
  await term.waitFor(/saved report-2026\.txt 6 /);
  assertEquals(await Deno.readTextFile(`${home.path}/report-2026.txt`), "report");
  await term.press("rm pl", "\t");
  await term.waitFor(`${prompt}rm plan.md`);
  await term.keys("\r");
  await term.waitFor("deleted plan.md");
  // The completions' FILE LIST replies were never taken for another request's.
  await term.type("ECHO still in step");
  await term.waitFor("still in step\r\n");
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("shell Ctrl-L clears the screen and keeps the line being typed", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  await using term = await shell(["--port", String(server.port)], home.path);
  const prompt = `switchboard 127.0.0.1:${server.port}> `;
  await term.waitFor(prompt);
  await term.press("PING kept", "\x0c");
  // Cursor home, then erase to the end of the screen; then the prompt and the line again.
  const clear = "\x1b[1;1H\x1b[0J";
  await eventually(() => term.screen.includes(clear), "Ctrl-L to clear the screen");
  const cleared = term.screen.lastIndexOf(clear);
  await term.keys("\r");
  await term.waitFor("kept\r\n");
  assertStringIncludes(term.screen.slice(cleared), "PING kept");
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("shell suggests the command meant for a typo, and --user for noauth", async () => {
  await using home = await tempDir();
  await using open = await TestServer.start();
  {
    await using term = await shell(["--port", String(open.port)], home.path);
    await term.waitFor(`switchboard 127.0.0.1:${open.port}> `);
    await term.type("PIGN");
    await term.waitFor(
      "error: unknown-command: PIGN is not a command; HELP lists the commands\r\n" +
        "hint: did you mean PING?\r\n",
    );
    await term.type("exit");
    assertEquals(await term.exit(), 0);
  }
  await writeUsers(`${home.path}/users.txt`, [ADA]);
  await using server = await TestServer.start(["--users", `${home.path}/users.txt`]);
  await using term = await shell(["--port", String(server.port)], home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.type("KV GET x");
  await term.waitFor(
    "hint: this server has users: start the client with --user NAME (it asks for the password)",
  );
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("one-shot commands get the hint too, piped mode does not", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  assertEquals(await runClient([...port, "pign"]), {
    code: 2,
    stdout: "",
    stderr: 'error: unknown command "pign" (did you mean ping?)\n',
  });
  const typo = await runClient([...port, "raw", "PIGN"]);
  assertEquals(typo.code, 1);
  assertStringIncludes(typo.stderr, "\nhint: did you mean PING?\n");
  const piped = await runClient(port, { stdin: "PIGN\n" });
  assertEquals(
    piped.stderr,
    "error: unknown-command: PIGN is not a command; HELP lists the commands\n",
  );
});

Deno.test("shell Tab never puts a hostile server's file names with escapes on the terminal", async () => {
  // A stand-in server that lists names no switchboard server would store.
  const names = ["safe-1.txt", "safe-\x1b[2J.txt", "safe two.txt", "safe\x07.txt"];
  const listing = names.map((name) => `5 2026-11-21T10:00:00.000Z ${name}\n`).join("");
  using server = fakeServer(async (conn) => {
    const buffered = { text: "" };
    for (;;) {
      const request = await readRequest(conn, buffered);
      if (request === null) return;
      if (request === "FILE LIST") {
        await reply(conn, `DATA ${new TextEncoder().encode(listing).length}\n${listing}\n`);
      } else await reply(conn, "OK PONG\n");
    }
  });
  await using home = await tempDir();
  await using term = await shell(["--port", String(server.port)], home.path);
  const prompt = `switchboard 127.0.0.1:${server.port}> `;
  await term.waitFor(prompt);
  await term.type("PING");
  await term.waitFor("PONG\r\n");
  await term.press("get saf", "\t");
  await term.waitFor(`${prompt}get safe-1.txt`);
  await term.keys("\x03");
  await term.type("exit");
  assertEquals(await term.exit(), 0);
  assertEquals(
    term.screen.includes("\x1b[2J"),
    false,
    "an escape from the server reached the screen",
  );
  assertEquals(term.screen.includes("\x07"), false, "a bell from the server reached the screen");
});

Deno.test("shell stays up, not connected, when a restarted server refuses its AUTH", async () => {
  await using home = await tempDir();
  const users = `${home.path}/users.txt`;
  await writeUsers(users, [ADA]);
  const first = await TestServer.start(["--users", users]);
  const port = first.port;
  await using term = await shell(["--port", String(port), "--user", "ada"], home.path, {
    SWITCHBOARD_PASSWORD: ADA.password,
  });
  await term.waitFor(`switchboard ada@127.0.0.1:${port}> `);
  await first[Symbol.asyncDispose]();
  await term.waitFor(
    "server closed the connection: shutting down (the next command connects again)",
  );
  // The same port, and ada now has another password.
  await writeUsers(users, [{ ...ADA, password: "a new one" }]);
  await using _second = await TestServer.start([String(port), "--users", users], {
    positional: true,
  });
  await term.type("PING");
  await term.waitFor("error: denied: wrong name or password\r\n");
  await term.waitFor("switchboard (not connected)> ");
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("shell Tab gives up on a server that never lists its files, and goes on", async () => {
  // A stand-in server that answers everything but FILE LIST.
  using server = fakeServer(async (conn) => {
    const buffered = { text: "" };
    for (;;) {
      const request = await readRequest(conn, buffered);
      if (request === null) return;
      if (request !== "FILE LIST") await reply(conn, "OK PONG\n");
    }
  });
  await using home = await tempDir();
  await using term = await shell(["--port", String(server.port)], home.path);
  const prompt = `switchboard 127.0.0.1:${server.port}> `;
  await term.waitFor(prompt);
  await term.type("PING");
  await term.waitFor("PONG\r\n");
  await term.press("get x", "\t");
  await term.waitFor("no file list from the server in time (the next command connects again)");
  await term.waitFor("switchboard (not connected)> get x");
  await term.keys("\x03");
  await term.type("PING");
  await term.waitFor(`connected to 127.0.0.1:${server.port}\r\nPONG\r\n`);
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});
