/**
 * End to end: the client's `put` and `get` when the local disk says no
 * (docs/client.md): every local file error is one line naming the path, exit 2,
 * and leaves nothing behind, locally or on the server; a server that goes
 * away mid-download is exit 3; local paths start at INIT_CWD.
 */
import { assertEquals, assertLess, assertMatch } from "@std/assert";
import { randomBytes, tempDir, TestServer } from "./helpers.ts";
import { clientCommandLine, fakeServer, reply, runClient, unprivileged } from "./client_helpers.ts";
import { Terminal } from "./terminal.ts";

/** Names in `dir`, sorted (hidden temporary files included). */
async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** The server's file names, through the client. */
async function serverFiles(port: number): Promise<string> {
  return (await runClient(["--port", String(port), "ls"])).stdout;
}

Deno.test("client put of a directory, a missing or an unreadable file: one line, exit 2, nothing stored", async () => {
  await using server = await TestServer.start();
  await using local = await tempDir();
  const port = ["--port", String(server.port)];
  assertEquals(await runClient([...port, "put", local.path]), {
    code: 2,
    stdout: "",
    stderr: `error: ${local.path}: is a directory\n`,
  });
  assertEquals(await runClient([...port, "put", `${local.path}/missing.txt`]), {
    code: 2,
    stdout: "",
    stderr: `error: ${local.path}/missing.txt: no such file or directory\n`,
  });
  const secret = `${local.path}/secret.txt`;
  await Deno.writeTextFile(secret, "private");
  await Deno.chmod(secret, 0o000);
  assertEquals(await runClient([...port, "put", secret], { wrap: await unprivileged() }), {
    code: 2,
    stdout: "",
    stderr: `error: ${secret}: permission denied\n`,
  });
  assertEquals(await serverFiles(server.port), "");
});

Deno.test("client put of a file that shrinks while being sent: one line, exit 2, upload abandoned", async () => {
  await using local = await tempDir();
  const path = `${local.path}/growing.log`;
  const size = 64 * 1024 * 1024;
  await Deno.writeFile(path, new Uint8Array());
  await Deno.truncate(path, size); // sparse: quick to make, quick to read
  let header = "";
  let payloadReceived = 0;
  const { promise: served, resolve: servedAll } = Promise.withResolvers<void>();
  // A server that reads the header, lets the upload start, then (the size
  // announced) has the file cut to nothing and reads on to the end.
  using server = fakeServer(async (conn) => {
    const buffer = new Uint8Array(1024 * 1024);
    let text = "";
    while (!text.includes("\n")) {
      const n = await conn.read(buffer);
      if (n === null) return;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    header = text.slice(0, text.indexOf("\n"));
    await Deno.truncate(path, 0);
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        payloadReceived += n;
      }
    } finally {
      servedAll();
    }
  });
  const result = await runClient(["--port", String(server.port), "put", path]);
  assertEquals(header, `FILE PUT growing.log ${size}`);
  assertEquals(result.code, 2);
  assertMatch(
    result.stderr,
    new RegExp(
      `^error: ${path}: shrank while being sent \\(\\d+ of ${size} bytes\\); nothing was stored\n$`,
    ),
  );
  assertEquals(result.stdout, "");
  // The connection was closed short of the announced size: a server discards such an upload.
  await served;
  assertLess(payloadReceived, size);
});

Deno.test("client put over the server's size limit shows the server's refusal, exit 1", async () => {
  await using server = await TestServer.start(["--max-file-size", "1000"]);
  await using local = await tempDir();
  await Deno.writeFile(`${local.path}/big.bin`, randomBytes(4_000_000));
  const result = await runClient(["--port", String(server.port), "put", `${local.path}/big.bin`]);
  assertEquals(result.code, 1);
  assertMatch(result.stderr, /^error: too-large: 4000000 bytes is over the limit of 1000/);
  assertEquals(await serverFiles(server.port), "");
});

Deno.test("client get into a missing or unwritable directory: one line, exit 2, nothing left", async () => {
  await using server = await TestServer.start();
  await using local = await tempDir();
  const port = ["--port", String(server.port)];
  await Deno.writeTextFile(`${local.path}/hello.txt`, "hello");
  assertEquals((await runClient([...port, "put", `${local.path}/hello.txt`])).code, 0);
  assertEquals(await runClient([...port, "get", "hello.txt", `${local.path}/no/such/dir/h.txt`]), {
    code: 2,
    stdout: "",
    stderr: `error: ${local.path}/no/such/dir: no such file or directory\n`,
  });
  const locked = `${local.path}/locked`;
  await Deno.mkdir(locked, { mode: 0o555 });
  await Deno.chmod(locked, 0o555);
  const refused = await runClient([...port, "get", "hello.txt", `${locked}/h.txt`], {
    wrap: await unprivileged(),
  });
  assertEquals(refused, {
    code: 2,
    stdout: "",
    stderr: `error: ${locked}: permission denied\n`,
  });
  assertEquals(await namesIn(locked), []);
  assertEquals(await namesIn(local.path), ["hello.txt", "locked"]);
});

Deno.test("client get into a directory saves the file inside it, and will not replace a directory", async () => {
  await using server = await TestServer.start();
  await using local = await tempDir();
  const port = ["--port", String(server.port)];
  await Deno.writeTextFile(`${local.path}/hello.txt`, "hello");
  assertEquals((await runClient([...port, "put", `${local.path}/hello.txt`])).code, 0);
  await Deno.mkdir(`${local.path}/into`);
  const saved = await runClient([...port, "get", "hello.txt", `${local.path}/into`]);
  assertMatch(saved.stdout, /^saved hello\.txt 5 [0-9a-f]{64}\n$/);
  assertEquals(await Deno.readTextFile(`${local.path}/into/hello.txt`), "hello");
  await Deno.mkdir(`${local.path}/dir/hello.txt`, { recursive: true });
  assertEquals(
    await runClient([...port, "get", "hello.txt", `${local.path}/dir`, "--force"]),
    { code: 2, stdout: "", stderr: `error: ${local.path}/dir/hello.txt: is a directory\n` },
  );
  assertEquals(await namesIn(`${local.path}/dir`), ["hello.txt"]);
});

Deno.test("client get when the server goes away mid-download: exit 3, no partial file left", async () => {
  using server = fakeServer(async (conn) => {
    await conn.read(new Uint8Array(256));
    await reply(conn, `DATA 1000000 ${"0".repeat(64)}\nonly the start`);
  });
  await using local = await tempDir();
  const result = await runClient(["--port", String(server.port), "get", "f", `${local.path}/f`]);
  assertEquals(result, {
    code: 3,
    stdout: "",
    stderr: `error: 127.0.0.1:${server.port} closed the connection in the middle of a reply\n`,
  });
  assertEquals(await namesIn(local.path), []);
});

Deno.test("client local paths start where the command was run (INIT_CWD), not the process's folder", async () => {
  await using server = await TestServer.start();
  await using user = await tempDir();
  await using elsewhere = await tempDir();
  const options = { env: { INIT_CWD: user.path }, cwd: elsewhere.path };
  const port = ["--port", String(server.port)];
  await Deno.mkdir(`${user.path}/sub`);
  await Deno.writeTextFile(`${user.path}/sub/notes.txt`, "notes");
  const put = await runClient([...port, "put", "sub/notes.txt"], options);
  assertMatch(put.stdout, /^stored notes\.txt 5 /);
  const got = await runClient([...port, "get", "notes.txt", "copy.txt"], options);
  assertMatch(got.stdout, /^saved notes\.txt 5 /);
  assertEquals(await Deno.readTextFile(`${user.path}/copy.txt`), "notes");
  assertEquals(await namesIn(elsewhere.path), []);
  const missing = await runClient([...port, "put", "nope.txt"], options);
  assertEquals(missing.stderr, "error: nope.txt: no such file or directory\n");
});

Deno.test("client get stopped with Ctrl-C exits 130 and leaves no partial file", async () => {
  const { promise: testDone, resolve: endTest } = Promise.withResolvers<void>();
  // A download that starts, then stalls: the user gives up on it.
  using server = fakeServer(async (conn) => {
    await conn.read(new Uint8Array(256));
    await reply(conn, `DATA 10000000 ${"0".repeat(64)}\n${"x".repeat(1_000_000)}`);
    await testDone;
  });
  await using local = await tempDir();
  try {
    await using term = new Terminal(
      clientCommandLine(["--port", String(server.port), "get", "big", `${local.path}/big`]),
    );
    await term.waitFor("get big [");
    await term.keys("\x03");
    assertEquals(await term.exit(), 130);
    assertMatch(term.text, /error: interrupted: the transfer was abandoned\r\n/);
  } finally {
    endTest();
  }
  assertEquals(await namesIn(local.path), []);
});

Deno.test("client get into a directory that does not exist names it, before requesting anything", async () => {
  await using local = await tempDir();
  const requests: string[] = [];
  using server = fakeServer(async (conn) => {
    const chunk = new Uint8Array(4096);
    const n = await conn.read(chunk);
    if (n !== null) requests.push(new TextDecoder().decode(chunk.subarray(0, n)));
  });
  const result = await runClient(["--port", String(server.port), "get", "n2.txt", "newdir/"], {
    cwd: local.path,
  });
  assertEquals(result, { code: 2, stdout: "", stderr: "error: newdir/: no such directory\n" });
  assertEquals(requests, []);
  assertEquals(await namesIn(local.path), []);
});
