/**
 * End to end: piped mode and one-shot protocol lines byte for byte: a FILE
 * PUT's payload taken from stdin, bytes that are not UTF-8 sent as they
 * are, and what the client says when a connection that did answer closes.
 */
import { assertEquals } from "@std/assert";
import { TestServer } from "./helpers.ts";
import { fakeServer, readRequest, reply, runClient } from "./client_helpers.ts";

const encoder = new TextEncoder();

Deno.test("client piped mode sends a FILE PUT's next <size> bytes as its payload, one reply", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  const result = await runClient([...port, "--timeout", "4"], {
    stdin: "FILE PUT pp.txt 5\nhello\nPING\nfile put two.txt 3\nab\nFILE GET pp.txt\n",
  });
  assertEquals(result, {
    code: 0,
    stdout: "stored pp.txt 5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n" +
      "PONG\n" +
      // "ab\n" is the 3-byte payload: no line of its own.
      "stored two.txt 3 a63d8014dba891345b30174df2b2a57efbb65b4f9f09b98f245d1b3192277ece\n" +
      "hello",
    stderr: "",
  });
});

Deno.test("client piped mode with stdin ending inside a FILE PUT payload: one line, exit 2, nothing stored", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  const result = await runClient(port, { stdin: "FILE PUT pp.txt 5\nhel" });
  assertEquals(result, {
    code: 2,
    stdout: "",
    stderr: 'error: stdin: ended 2 bytes short of the payload of "FILE PUT pp.txt 5"; ' +
      "nothing was stored\n",
  });
  assertEquals((await runClient([...port, "ls"])).stdout, "");
});

Deno.test("client piped mode sends stdin's bytes as they are, not UTF-8 repaired", async () => {
  await using server = await TestServer.start();
  const stdin = new Uint8Array([...encoder.encode("ECHO "), 0xff, 0xfe, 0x0a]);
  assertEquals(await runClient(["--port", String(server.port)], { stdin }), {
    code: 1,
    stdout: "",
    stderr: "error: bad-request: line is not valid UTF-8\n",
  });
});

Deno.test("client hints at TLS only when the server closed without ever sending a byte", async () => {
  // Answers the first request, then closes at the second.
  using server = fakeServer(async (conn) => {
    const buffered = { text: "" };
    const first = await readRequest(conn, buffered);
    await reply(conn, first?.startsWith("KV KEYS") ? "ERR too-large many keys\n" : "OK PONG\n");
    await readRequest(conn, buffered);
  });
  const closed = `error: 127.0.0.1:${server.port} closed the connection before replying\n`;
  const port = ["--port", String(server.port)];
  assertEquals(await runClient([...port, "kv", "keys"]), { code: 3, stdout: "", stderr: closed });
  assertEquals(await runClient(port, { stdin: "PING\nPING\n" }), {
    code: 3,
    stdout: "PONG\n",
    stderr: closed,
  });
  using silent = fakeServer(async (conn) => {
    await readRequest(conn, { text: "" });
  });
  assertEquals(
    (await runClient(["--port", String(silent.port), "ping"])).stderr,
    `error: 127.0.0.1:${silent.port} closed the connection before replying\n`,
  );
});

Deno.test("client raw FILE GET past what it buffers points to get", async () => {
  using server = fakeServer(async (conn) => {
    await readRequest(conn, { text: "" });
    await reply(conn, "DATA 300000000\n");
  });
  assertEquals(await runClient(["--port", String(server.port), "raw", "FILE", "GET", "huge"]), {
    code: 3,
    stdout: "",
    stderr: "error: DATA reply of 300000000 bytes is too large to buffer; " +
      "for a file, use get <name> [local]\n",
  });
});

Deno.test("client one-shot takes any protocol command word, and refuses FILE PUT without a payload", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  assertEquals((await runClient([...port, "help", "ping"])).code, 0);
  assertEquals(await runClient([...port, "FILE", "LIST"]), { code: 0, stdout: "", stderr: "" });
  assertEquals(await runClient([...port, "quit"]), { code: 0, stdout: "bye\n", stderr: "" });
  const refused = "error: FILE PUT is followed by a file's bytes: use put <local> [name]\n";
  for (const words of [["raw", "FILE", "PUT", "x", "5"], ["file", "put", "x", "5"]]) {
    assertEquals(await runClient([...port, ...words]), { code: 2, stdout: "", stderr: refused });
  }
});

Deno.test("client refuses an option its command would ignore, and an empty file name", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  const usage = {
    "ping --work-ms 5": "--work-ms is for count only, not ping",
    "put x --force": "--force is for get only, not put",
    "--force": "--force is for get only, not the shell",
    "put ": "a local file name is required; usage: put <local> [name]",
    "get ": "a file name is required; usage: get <name> [local] [--force]",
  };
  for (const [line, message] of Object.entries(usage)) {
    assertEquals(
      await runClient([...port, ...line.split(" ")], { stdin: "" }),
      { code: 2, stdout: "", stderr: `error: ${message}\n` },
      line,
    );
  }
});
