/**
 * End to end: the interactive shell (docs/client.md) under a real pseudo-terminal,
 * keys and all: history across sessions, Tab completion, Ctrl-C, the
 * server's shutdown announced at once, the client's commands beside raw
 * protocol lines, `reconnect`, and an honest word while a reply is late.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { tempDir, TestClient, TestServer } from "./helpers.ts";
import { clientCommandLine, holdSlot, homeEnvironment } from "./client_helpers.ts";
import { Terminal } from "./terminal.ts";

/** The shell on `port`, with `home` as its home directory (its history file goes there). */
async function shell(port: number, home: string, options: { cwd?: string } = {}) {
  return new Terminal(clientCommandLine(["--port", String(port)]), {
    // A terminal that can edit lines: readline falls back to a bare mode on TERM=dumb.
    env: { ...await homeEnvironment(home), TERM: "xterm", INIT_CWD: options.cwd ?? home },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
}

Deno.test("shell history survives a restart of the shell, and never holds an AUTH line", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  {
    await using term = await shell(server.port, home.path);
    await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
    await term.type("CALC add 2 3");
    await term.waitFor("5\r\n");
    await term.type("AUTH ada s3cret");
    await term.waitFor("error: ");
    await term.type("ECHO last");
    await term.waitFor("last\r\n");
    await term.keys("\x04"); // Ctrl-D
    assertEquals(await term.exit(), 0);
  }
  const file = `${home.path}/.switchboard_history`;
  assertEquals(await Deno.readTextFile(file), "CALC add 2 3\nECHO last\n");
  assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
  await using again = await shell(server.port, home.path);
  await again.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  // Up twice: past ECHO last to CALC add 2 3 (the AUTH line was never kept).
  await again.press("\x1b[A", "\x1b[A", "\r");
  await again.waitFor(/CALC add 2 3\r+\n5\r\n/);
  await again.type("exit");
  await again.waitFor("bye");
  assertEquals(await again.exit(), 0);
});

Deno.test("shell Tab completes FI to FILE", async () => {
  await using server = await TestServer.start();
  using client = await TestClient.connect(server.port);
  await client.write("FILE PUT hello.txt 5\nhello");
  assertEquals((await client.readText()).startsWith("OK stored hello.txt 5"), true);
  await using home = await tempDir();
  await using term = await shell(server.port, home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.press("FI", "\t");
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> FILE`);
  await term.press(" L", "\t");
  await term.waitFor("FILE LIST");
  await term.keys("\r");
  await term.waitFor(/\d+ \S+ hello\.txt\r\n/);
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("shell Ctrl-C clears the line being typed and keeps the shell", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  await using term = await shell(server.port, home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.press("NOT A COMMAND", "\x03");
  await term.waitFor("^C");
  await term.type("PING");
  await term.waitFor("PONG");
  await term.type("exit");
  await term.waitFor("bye");
  assertEquals(await term.exit(), 0);
  assertEquals(term.screen.includes("unknown-command"), false, "the cleared line was never sent");
});

Deno.test("shell announces a server shutdown at once, and reconnect reports what happens", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  await using term = await shell(server.port, home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.type("PING");
  await term.waitFor("PONG");
  await term.keys("half typed");
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> half typed`);
  server.signal("SIGTERM");
  await term.waitFor(
    "server closed the connection: shutting down (the next command connects again)",
  );
  // The prompt says so, and what was being typed is still there.
  await term.waitFor(/switchboard \(not connected\)> half typed/);
  await server.exited();
  await term.keys("\x03");
  // A command typed while not connected connects first: here, nobody answers.
  await term.type("PING");
  await term.waitFor(`error: cannot connect to 127.0.0.1:${server.port}: connection refused`);
  await term.type("reconnect");
  await term.waitFor(`error: cannot connect to 127.0.0.1:${server.port}: connection refused`);
  await term.type("exit");
  assertEquals(await term.exit(), 0);
});

Deno.test("shell runs the client's commands and raw protocol lines side by side", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  await Deno.writeTextFile(`${home.path}/notes.txt`, "hello");
  await using term = await shell(server.port, home.path, { cwd: home.path });
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.type("put notes.txt");
  await term.waitFor(/stored notes\.txt 5 [0-9a-f]{64}/);
  await term.type("ls");
  await term.waitFor(/5 \S+ notes\.txt/);
  await term.type("get notes.txt copy.txt");
  await term.waitFor(/saved notes\.txt 5 /);
  assertEquals(await Deno.readTextFile(`${home.path}/copy.txt`), "hello");
  await term.type("FILE PUT x 5");
  await term.waitFor("error: FILE PUT is followed by a file's bytes: use put <local> [name]");
  await term.type("put missing.txt");
  await term.waitFor("error: missing.txt: no such file or directory");
  await term.type("KV SET  spaced   value ");
  await term.waitFor(/KV SET {2}spaced {3}value \r+\nOK\r\n/);
  await term.type("kv keys");
  await term.waitFor("spaced\r\n");
  await term.type("KV GET spaced");
  await term.waitFor("  value \r\n");
  await term.type("raw ECHO   as typed");
  await term.waitFor("  as typed\r\n");
  await term.type("hello Ada");
  await term.waitFor("student id: ");
  await term.type("S1815");
  await term.waitFor("GitHub user: ");
  await term.type("ada");
  await term.waitFor("hello Ada");
  await term.type("help");
  await term.waitFor("The server's commands:");
  await term.waitFor("KV SCAN");
  await term.type("reconnect");
  await term.waitFor(`connected to 127.0.0.1:${server.port}`);
  await term.type("WHO");
  await term.waitFor(/running - /);
  await term.type("quit");
  await term.waitFor("bye");
  assertEquals(await term.exit(), 0);
  assertStringIncludes(
    await Deno.readTextFile(`${home.path}/.switchboard_history`),
    "put notes.txt\nls\n",
  );
});

Deno.test("shell says what it knows while a reply is late, and Ctrl-C abandons the wait", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  await using home = await tempDir();
  using slot = await holdSlot(server.port);
  await using term = await shell(server.port, home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.type("PING first");
  // Nothing answered on this connection yet: queued or slow, it cannot tell which.
  await term.waitFor(
    "no reply for 1 s: the server may have queued this connection until a slot frees, " +
      "or the request is slow",
  );
  await term.keys("\x03");
  await term.waitFor("error: interrupted: the reply was abandoned and its connection closed");
  // The notice was erased before the ^C: never "…is slow^C".
  assertEquals(/slow\^C/.test(term.text), false, term.text);
  await term.waitFor(`connected to 127.0.0.1:${server.port}`);
  slot.release();
  await term.type("PING second");
  await term.waitFor("second\r\n");
  // A reply has come on this connection, so it is running: the request itself is slow.
  await term.type("COUNT 0 2 1000");
  await term.waitFor(
    "no reply for 1 s: this connection is running (not queued), so the request itself is slow",
  );
  await term.waitFor(/\b2\r\n/);
  await term.type("exit");
  assertEquals(await term.exit(), 0);
  assertEquals(term.screen.includes("first\r\n"), false, "the abandoned reply was never shown");
});

Deno.test("shell exit while the connection waits in the queue leaves at once", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  await using home = await tempDir();
  using _slot = await holdSlot(server.port);
  await using term = await shell(server.port, home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.type("exit");
  // The shell's own bye, as after a QUIT: no QUIT waited for a slot.
  await term.waitFor("bye\r\n");
  assertEquals(await term.exit(), 0);
  // Closing took it out of the queue at once (docs/protocol.md#admission-the-queue-and-its-limits).
  await server.waitForLog(/client left the queue client=2/);
});

Deno.test("shell Ctrl-D leaves on a fresh line", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  await using term = await shell(server.port, home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.keys("\x04");
  assertEquals(await term.exit(), 0);
  assertEquals(
    term.text.endsWith(`switchboard 127.0.0.1:${server.port}> \r\n`),
    true,
    JSON.stringify(term.text),
  );
});

Deno.test("shell says in one line that the history cannot be kept, once", async () => {
  await using server = await TestServer.start();
  await using home = await tempDir();
  // A directory where the history file should be: neither read nor written.
  await Deno.mkdir(`${home.path}/.switchboard_history`);
  await using term = await shell(server.port, home.path);
  await term.waitFor(`switchboard 127.0.0.1:${server.port}> `);
  await term.type("PING one");
  await term.waitFor("one\r\n");
  await term.type("PING two");
  await term.waitFor("two\r\n");
  await term.type("exit");
  assertEquals(await term.exit(), 0);
  const said = `error: history not kept: ${home.path}/.switchboard_history: is a directory\r\n`;
  assertEquals(term.text.split(said).length, 2, term.text);
});
