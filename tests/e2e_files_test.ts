/** End to end: the file service (docs/protocol.md#commands FILE, docs/protocol.md#limits-and-bad-input) and the client's put/get/ls/rm (docs/client.md). */
import { assert, assertEquals, assertGreaterOrEqual, assertMatch } from "@std/assert";
import {
  assertStartsWith,
  clientArgs,
  concat,
  eventually,
  filesIn,
  randomBytes,
  run,
  sha256,
  TestClient,
  TestServer,
} from "./helpers.ts";

const encoder = new TextEncoder();

async function putRaw(client: TestClient, name: string, bytes: Uint8Array): Promise<string> {
  await client.write(concat(encoder.encode(`FILE PUT ${name} ${bytes.length}\n`), bytes));
  return await client.readText();
}

Deno.test("FILE PUT then GET round-trips sizes 0, 1, 65535, 65536, 65537 and 10 MB exactly", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  for (const size of [0, 1, 65535, 65536, 65537, 10_000_000]) {
    const bytes = randomBytes(size);
    const name = `blob-${size}.bin`;
    assertEquals(await putRaw(c, name, bytes), `OK stored ${name} ${size} ${sha256(bytes)}`);
    await c.send(`FILE GET ${name}`);
    const reply = await c.read();
    assertEquals(reply.kind, "data");
    if (reply.kind !== "data") continue;
    assertEquals(reply.sha256, sha256(bytes));
    assertEquals(reply.body.length, size);
    assertEquals(reply.body, bytes, `${size} bytes come back byte for byte`);
  }
  const list = (await c.ask("FILE LIST")).split("\n").slice(1, -1);
  assertEquals(list.map((l) => l.split(" ")[2]), [
    "blob-0.bin",
    "blob-1.bin",
    "blob-10000000.bin",
    "blob-65535.bin",
    "blob-65536.bin",
    "blob-65537.bin",
  ]);
  assertMatch(list[0]!, /^0 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z blob-0\.bin$/);
  assertEquals(await c.ask("FILE DEL blob-1.bin"), "OK deleted blob-1.bin");
  assertEquals(await c.ask("FILE DEL blob-1.bin"), "ERR not-found no file blob-1.bin");
  assertEquals(await c.ask("FILE GET blob-1.bin"), "ERR not-found no file blob-1.bin");
});

Deno.test("every bad file name gets ERR bad-name; its payload is consumed and the connection stays usable", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const cases: Array<[string, string]> = [
    ['""', 'file names must be 1-255 bytes: received ""'],
    [".", 'file names must not be . or ..: received "."'],
    ["..", 'file names must not be . or ..: received ".."'],
    [".hidden", 'file names must not start with a dot: received ".hidden"'],
    ["../escape", 'file names must not contain / or \\: received "../escape"'],
    ["/etc/passwd", 'file names must not contain / or \\: received "/etc/passwd"'],
    ["a\\b", 'file names must not contain / or \\: received "a\\\\b"'],
    [
      "tab\u0001name",
      'file names must not contain NUL or control characters: received "tab\\x01name"',
    ],
    [
      "c1\u009bname",
      'file names must not contain NUL or control characters: received "c1\\x9bname"',
    ],
    ["é".repeat(128), "file names must be 1-255 bytes: received"],
  ];
  for (const [name, message] of cases) {
    const reply = await putRaw(c, name, encoder.encode("PING\nPING\n"));
    assertStartsWith(reply, `ERR bad-name ${message}`, name);
    assertEquals(
      await c.ask("PING"),
      "OK PONG",
      "the payload (which looks like requests) was discarded",
    );
    assertStartsWith(await c.ask(`FILE GET ${name}`), "ERR bad-name");
    assertStartsWith(await c.ask(`FILE DEL ${name}`), "ERR bad-name");
  }
  assertEquals(
    await putRaw(c, "x".repeat(255), encoder.encode("ok")),
    `OK stored ${"x".repeat(255)} 2 ${sha256(encoder.encode("ok"))}`,
  );
  assertEquals(await filesIn(`${server.dir}/files`), ["x".repeat(255)]);
});

Deno.test("symlinks in --root are never followed: GET and DEL say not-found, LIST skips, PUT replaces the link", async () => {
  await using server = await TestServer.start();
  const outside = `${server.dir}/outside-secret.txt`;
  await Deno.writeTextFile(outside, "top secret");
  await Deno.symlink(outside, `${server.dir}/files/link.txt`);
  await Deno.symlink("/", `${server.dir}/files/rootdir`);
  using c = await TestClient.connect(server.port);
  assertEquals(await c.ask("FILE GET link.txt"), "ERR not-found no file link.txt");
  assertEquals(await c.ask("FILE LIST"), "DATA 0\n");
  assertEquals(await c.ask("FILE DEL link.txt"), "ERR not-found no file link.txt");
  assertEquals(await c.ask("FILE GET rootdir"), "ERR not-found no file rootdir");
  assertStartsWith(await putRaw(c, "link.txt", encoder.encode("mine")), "OK stored link.txt 4 ");
  assertEquals(await Deno.readTextFile(outside), "top secret", "the link's target is untouched");
  assertEquals((await Deno.lstat(`${server.dir}/files/link.txt`)).isSymlink, false);
  assertEquals(await c.ask("FILE GET link.txt"), "DATA 4\nmine");
});

Deno.test("an upload cut in half leaves nothing behind, the old version intact, and is no server failure", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const old = encoder.encode("the old version");
  assertStartsWith(await putRaw(c, "doc.txt", old), "OK stored doc.txt");
  const cut = await TestClient.connect(server.port);
  await cut.write(concat(encoder.encode("FILE PUT doc.txt 1000000\n"), randomBytes(500_000)));
  await cut.write("FILE PUT other.txt 10\nabc");
  cut.close();
  await server.waitForLog(/client closed client=2 /);
  assertEquals(await filesIn(`${server.dir}/files`), ["doc.txt"], "no temporary file is left");
  assertEquals(await c.ask("FILE GET doc.txt"), "DATA 15\nthe old version");
  assertEquals(
    server.log.filter((line) => / WARN /.test(line)),
    [],
    "a client that vanishes mid-upload is its own loss, not a failed command",
  );
});

Deno.test("a GET racing overwrites returns one whole version with its own size and sha256", async () => {
  await using server = await TestServer.start();
  const versions = ["a", "b", "c"].map((ch, i) => encoder.encode(ch.repeat(1_000_000 + i * 1000)));
  using writer = await TestClient.connect(server.port);
  using reader = await TestClient.connect(server.port);
  await putRaw(writer, "racy.bin", versions[0]!);
  const writing = (async () => {
    for (let round = 0; round < 15; round++) await putRaw(writer, "racy.bin", versions[round % 3]!);
  })();
  try {
    for (let i = 0; i < 30; i++) {
      await reader.send("FILE GET racy.bin");
      const reply = await reader.read();
      if (reply.kind !== "data") throw new Error(`unexpected reply: ${JSON.stringify(reply)}`);
      const index = versions.findIndex((v) => v.length === reply.body.length);
      assertGreaterOrEqual(index, 0, `a size no version has: ${reply.body.length}`);
      assertEquals(reply.body, versions[index], "one whole version, never a mix");
      assertEquals(reply.sha256, sha256(versions[index]!));
    }
  } finally {
    await writing;
  }
  assertEquals(await filesIn(`${server.dir}/files`), ["racy.bin"]);
});

Deno.test("FILE PUT over --max-file-size is ERR too-large and closes; the limit itself is allowed", async () => {
  await using server = await TestServer.start(["--max-file-size", "10"]);
  using ok = await TestClient.connect(server.port);
  assertStartsWith(await putRaw(ok, "ten", encoder.encode("0123456789")), "OK stored ten 10 ");
  using big = await TestClient.connect(server.port);
  await big.send("FILE PUT eleven 11");
  assertEquals(
    await big.readText(),
    "ERR too-large 11 bytes is over the limit of 10 (--max-file-size)",
  );
  await big.closedByServer();
  using bad = await TestClient.connect(server.port);
  await bad.send("FILE PUT x -5");
  assertEquals(
    await bad.readText(),
    'ERR bad-args size must be a non-negative integer: received "-5"',
  );
  await bad.closedByServer();
  assertEquals(
    await ok.ask("FILE LIST").then((t) => t.split("\n").length),
    3,
    "only ten is stored",
  );
});

function client(port: number, args: string[]) {
  return run(Deno.execPath(), [...clientArgs(port), ...args]);
}

Deno.test("client put, ls, get and rm: verified, atomic, quiet off a terminal", async () => {
  await using server = await TestServer.start();
  const bytes = randomBytes(300_000);
  const local = `${server.dir}/upload.bin`;
  await Deno.writeFile(local, bytes);
  const digest = sha256(bytes);
  assertEquals(await client(server.port, ["put", local]), {
    code: 0,
    stdout: `stored upload.bin 300000 ${digest}\n`,
    stderr: "",
  });
  assertEquals((await client(server.port, ["put", local, "renamed.bin"])).code, 0);
  assertMatch(
    (await client(server.port, ["ls"])).stdout,
    /^300000 \S+ renamed\.bin\n300000 \S+ upload\.bin\n$/,
  );
  const target = `${server.dir}/download.bin`;
  assertEquals(await client(server.port, ["get", "upload.bin", target]), {
    code: 0,
    stdout: `saved upload.bin 300000 ${digest}\n`,
    stderr: "",
  });
  assertEquals(await Deno.readFile(target), bytes);
  const again = await client(server.port, ["get", "upload.bin", target]);
  assertEquals(again, {
    code: 2,
    stdout: "",
    stderr: `error: ${target}: exists; use --force to replace it\n`,
  });
  assertEquals((await client(server.port, ["get", "renamed.bin", target, "--force"])).code, 0);
  assertEquals(await client(server.port, ["get", "nope", `${server.dir}/n`]), {
    code: 1,
    stdout: "",
    stderr: "error: not-found: no file nope\n",
  });
  assertEquals((await client(server.port, ["rm", "upload.bin"])).stdout, "deleted upload.bin\n");
  assertEquals((await client(server.port, ["put", `${server.dir}/missing`])).code, 2);
  const leftovers = (await filesIn(server.dir)).filter((n) => n.includes(".part-"));
  assertEquals(leftovers, []);
});

Deno.test("client get exits 4 and keeps nothing when the sha256 does not match", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(256));
    await conn.write(encoder.encode(`DATA 5 ${"0".repeat(64)}\nhello\n`));
    conn.close();
  })();
  const dir = await Deno.makeTempDir();
  try {
    const result = await client(listener.addr.port, ["get", "f", `${dir}/f`]);
    await serving;
    assertEquals(result.code, 4);
    assertMatch(
      result.stderr,
      /^error: integrity check failed: received bytes hash to [0-9a-f]{64}, but the server announced 0{64}\n$/,
    );
    assertEquals(await filesIn(dir), [], "neither the file nor a temporary part is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client put draws a progress bar on a terminal", async () => {
  await using server = await TestServer.start();
  const local = `${server.dir}/bar.bin`;
  await Deno.writeFile(local, randomBytes(3_000_000));
  const command = [Deno.execPath(), ...clientArgs(server.port), "put", local].join(" ");
  const { code, stdout } = await run("script", ["-qfec", command, "/dev/null"]);
  assertEquals(code, 0);
  assertMatch(stdout, /put \S+bar\.bin \[#{24}\] 100% 3 MB \/ 3 MB /);
  assertMatch(stdout, /stored bar\.bin 3000000 [0-9a-f]{64}/);
});

Deno.test("a FILE PUT sent whole while queued is stored when the client starts, and the requests after it are answered", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  // 6 bytes arrive whole in the queue's read-ahead; of 300,000, part is
  // still in the socket when the handler starts.
  const queuedSoFar = () => server.log.filter((line) => line.includes("client queued")).length;
  for (const size of [6, 300_000]) {
    using holder = await TestClient.connect(server.port);
    // Answered: the holder runs (once the last round's client has gone).
    assertEquals(await holder.ask("PING"), "OK PONG");
    const before = queuedSoFar();
    using queued = await TestClient.connect(server.port);
    const bytes = randomBytes(size);
    const name = `queued-${size}.bin`;
    await queued.write(
      concat(encoder.encode(`FILE PUT ${name} ${size}\n`), bytes, encoder.encode("PING\n")),
    );
    await eventually(() => queuedSoFar() > before, "the second connection queued");
    holder.close();
    assertEquals(await queued.readText(), `OK stored ${name} ${size} ${sha256(bytes)}`);
    assertEquals(await queued.readText(), "OK PONG");
    assertEquals(await Deno.readFile(`${server.dir}/files/${name}`), bytes);
  }
});

Deno.test("racing PUTs of one name: every GET announces the sha256 of the bytes it sends", async () => {
  await using server = await TestServer.start();
  const uploaders = await Promise.all([0, 1, 2, 3].map(() => TestClient.connect(server.port)));
  using reader = await TestClient.connect(server.port);
  try {
    for (let round = 0; round < 150; round++) {
      const versions = uploaders.map(() => randomBytes(100));
      const replies = await Promise.all(
        uploaders.map((client, i) => putRaw(client, "raced.bin", versions[i]!)),
      );
      for (const reply of replies) assertStartsWith(reply, "OK stored raced.bin 100 ");
      await reader.send("FILE GET raced.bin");
      const got = await reader.read();
      if (got.kind !== "data") throw new Error(`FILE GET answered ${JSON.stringify(got)}`);
      assertEquals(got.sha256, sha256(got.body), `round ${round}: the header's sha256`);
    }
  } finally {
    for (const client of uploaders) client.close();
  }
});

Deno.test("FILE LISTs asked for at once each show the file their own PUT stored just before", async () => {
  await using server = await TestServer.start();
  const clients = await Promise.all(
    Array.from({ length: 8 }, () => TestClient.connect(server.port)),
  );
  try {
    await Promise.all(clients.map(async (client, i) => {
      assertStartsWith(await putRaw(client, `mine-${i}.txt`, randomBytes(10)), "OK stored");
      const listed = (await client.ask("FILE LIST")).split("\n").slice(1, -1);
      assert(listed.some((line) => line.endsWith(` mine-${i}.txt`)), `mine-${i}.txt listed`);
    }));
  } finally {
    for (const client of clients) client.close();
  }
});

/** A FILE GET on a raw connection, read as far as the caller asks: a download that can pause. */
async function pausableGet(port: number, name: string, expected: Uint8Array) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(`FILE GET ${name}\n`));
  const got = new Uint8Array(expected.length);
  let filled = 0;
  return {
    /** Reads until `until` bytes of the reply are in. */
    async readUpTo(until: number): Promise<void> {
      while (filled < until) {
        const n = await conn.read(got.subarray(filled, until));
        if (n === null) throw new Error(`the download of ${name} ended after ${filled} bytes`);
        filled += n;
      }
    },
    /** Index of the first byte that differs from `expected`, -1 if none. */
    firstDifference: () => got.findIndex((byte, i) => byte !== expected[i]),
    [Symbol.dispose]: () => conn.close(),
  };
}

Deno.test("a download that ran alone and a second one that joins it midway both arrive whole", async () => {
  // Alone, a GET streams in 1 MiB chunks; once another runs, each goes on in 64 KiB (lib/chunks.ts).
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const bytes = randomBytes(24 * 1024 * 1024);
  assertMatch(await putRaw(c, "big.bin", bytes), /^OK stored big\.bin /);
  const reply = concat(
    encoder.encode(`DATA ${bytes.length} ${sha256(bytes)}\n`),
    bytes,
    encoder.encode("\n"),
  );
  using first = await pausableGet(server.port, "big.bin", reply);
  using second = await pausableGet(server.port, "big.bin", reply);
  // The first is under way alone, then stops reading (its socket fills up) ...
  await first.readUpTo(2 * 1024 * 1024);
  // ... the second starts and stops too, so that two downloads run ...
  await second.readUpTo(1024 * 1024);
  // ... the first goes on to its end, in the smaller chunks, then the second.
  await first.readUpTo(reply.length);
  await second.readUpTo(reply.length);
  assertEquals(first.firstDifference(), -1, "the first download is whole, byte for byte");
  assertEquals(second.firstDifference(), -1, "the second download is whole, byte for byte");
});
