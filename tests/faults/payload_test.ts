/**
 * Payload bytes are never read as requests (docs/protocol.md#commands): a FILE PUT that fails
 * after its header, or whose line cannot be parsed, must not let the file's
 * bytes run as commands. Each payload here is a request that would leave a
 * trace (`KV SET smuggled pwned`) if it ever ran.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { concat, eventually, filesIn, TestClient, TestServer } from "../helpers.ts";

const encoder = new TextEncoder();
const SMUGGLED = "KV SET smuggled pwned\n";

/** True if the smuggled request ran on `server`. */
async function smuggled(server: TestServer): Promise<boolean> {
  using check = await TestClient.connect(server.port);
  return (await check.ask("KV GET smuggled")) !== "ERR not-found no key smuggled";
}

Deno.test("a PUT that fails before reading its payload skips the payload; the connection stays in step", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  // The file root disappears under the running server: the upload cannot even start.
  await Deno.remove(`${server.dir}/files`, { recursive: true });
  assertMatch(await c.put("x.txt", SMUGGLED), /^ERR unavailable /);
  assertEquals(await c.ask("PING"), "OK PONG", "the next request is read where the payload ends");
  assertEquals(await smuggled(server), false);
});

Deno.test("a PUT that cannot be parsed closes the connection: what follows is never run", async () => {
  await using server = await TestServer.start();
  const lines = [
    concat(encoder.encode("FILE PUT bad"), new Uint8Array([0xff, 0xfe]), encoder.encode(" 22\n")),
    encoder.encode('FILE PUT "unbalanced 22\n'),
    encoder.encode('file put "a\\q" 22\n'),
  ];
  for (const line of lines) {
    using c = await TestClient.connect(server.port);
    await c.write(concat(line, encoder.encode(SMUGGLED)));
    assertMatch(await c.readText(), /^ERR bad-request .*closing: the payload size is unknown$/);
    await c.closedByServer();
  }
  assertEquals(await smuggled(server), false);
});

Deno.test("fıle and ﬁle are no FILE command whether or not the line parses, so neither announces a payload", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  for (const word of ["f\u0131le", "\ufb01le"]) {
    // Unicode upper-casing would make this a FILE PUT that takes the PING as its 5 bytes,
    // while the same word on a line with a bad byte is not FILE: command words are ASCII-cased.
    await c.write(`${word} PUT a 5\nPING\n`);
    assertEquals(
      await c.readText(),
      `ERR unknown-command ${word} is not a command; HELP lists the commands`,
    );
    assertEquals(await c.readText(), "OK PONG");
    const badByte = new Uint8Array([0xff]);
    await c.write(concat(encoder.encode(`${word} PUT a 5 `), badByte, encoder.encode("\nPING\n")));
    assertEquals(await c.readText(), "ERR bad-request line is not valid UTF-8");
    assertEquals(await c.readText(), "OK PONG");
  }
  assertEquals(await filesIn(`${server.dir}/files`), [], "no file was stored");
});

Deno.test("a PUT onto a directory is ERR bad-name and leaves no temporary file", async () => {
  await using server = await TestServer.start();
  await Deno.mkdir(`${server.dir}/files/taken`);
  using c = await TestClient.connect(server.port);
  assertEquals(
    await c.put("taken", "x".repeat(100_000)),
    "ERR bad-name taken is a directory on the server",
  );
  assertEquals(await c.ask("PING"), "OK PONG");
  assertEquals(await filesIn(`${server.dir}/files`), ["taken"], "no .upload-* file is left");
});

Deno.test("out of descriptors, a PUT is ERR unavailable, its payload skipped, and the server lives", async () => {
  await using server = await TestServer.start(
    ["--max-running", "400", "--queue-limit", "0"],
    { wrap: ["prlimit", "--nofile=128:128"] },
  );
  using c = await TestClient.connect(server.port);
  assertEquals(await c.ask("PING"), "OK PONG");
  const flood: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    await server.waitForLog(/accepting clients paused: out of descriptors/);
    assertMatch(await c.put("x.txt", SMUGGLED), /^ERR unavailable /);
    assertEquals(await c.ask("KV GET smuggled"), "ERR not-found no key smuggled");
  } finally {
    for (const conn of flood) conn.close();
  }
  // Once the flood's descriptors are given back, storage works again.
  const stored = `OK stored x.txt 4 ${await sha256("fine")}`;
  await eventually(async () => await c.put("x.txt", "fine") === stored, "a PUT to succeed again");
});

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
