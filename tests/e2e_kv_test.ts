/** End to end: the durable KV store (docs/protocol.md#commands KV, docs/protocol.md#shutdown closed cleanly). */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { assertStartsWith, repoPath, run, TestClient, TestServer } from "./helpers.ts";

Deno.test("KV SET, GET, DEL, INCR and KEYS behave as docs/protocol.md#kv says", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  assertEquals(await c.ask('KV SET greeting  hello "world" \\ x'), "OK");
  assertEquals(
    await c.ask("KV GET greeting"),
    'OK  hello "world" \\ x',
    "the value is the rest of the line, byte-exact",
  );
  assertEquals(await c.ask("kv set empty "), "OK");
  assertEquals(await c.ask("KV GET empty"), "OK ");
  assertEquals(await c.ask("KV GET nope"), "ERR not-found no key nope");
  assertEquals(await c.ask("KV INCR n"), "OK 1");
  assertEquals(await c.ask("KV INCR n -5"), "OK -4");
  assertEquals(
    await c.ask("KV INCR n 100000000000000000000000000000"),
    "OK 99999999999999999999999999996",
  );
  assertEquals(
    await c.ask("KV INCR greeting"),
    "ERR bad-args the value of greeting is not an integer",
  );
  assertEquals(
    await c.ask("KV INCR n 1.5"),
    'ERR bad-args by must be an integer (any size, may be negative): received "1.5"',
  );
  for (const key of ["b", "a", "é", "Z", "aa", "\u{1F600}", "\uFFFF"]) {
    await c.ask(`KV SET ${key} v`);
  }
  // Ascending byte order: U+FFFF (EF BF BF) sorts before U+1F600 (F0 9F 98 80).
  const sorted = "Z\na\naa\nb\nempty\ngreeting\nn\né\n\uFFFF\n\u{1F600}\n";
  assertEquals(
    await c.ask("KV KEYS"),
    `DATA ${new TextEncoder().encode(sorted).length}\n${sorted}`,
  );
  assertEquals(await c.ask("KV KEYS a"), "DATA 5\na\naa\n");
  assertEquals(await c.ask("KV KEYS zzz"), "DATA 0\n");
  assertEquals(await c.ask("KV DEL n"), "OK deleted");
  assertEquals(await c.ask("KV DEL n"), "ERR not-found no key n");
  assertEquals(
    await c.ask("KV"),
    "ERR bad-args KV takes SET, GET, DEL, INCR, KEYS or SCAN, got nothing",
  );
  assertEquals(
    await c.ask("KV POP x"),
    'ERR bad-args KV takes SET, GET, DEL, INCR, KEYS or SCAN, got "POP"',
  );
  assertEquals(await c.ask("KV GET"), "ERR bad-args KV GET takes <key>, got 1 argument");
  assertEquals(await c.ask("KV GET a b"), "ERR bad-args KV GET takes <key>, got 3 arguments");
});

Deno.test("KV refuses bad keys and names the rule", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const rule = "ERR bad-args keys are 1-250 bytes without whitespace or control characters";
  assertEquals(await c.ask('KV SET "two words" v'), `${rule}: received "two words"`);
  assertEquals(await c.ask('KV GET ""'), `${rule}: received ""`);
  assertStartsWith(await c.ask(`KV SET ${"k".repeat(251)} v`), rule);
  assertStartsWith(await c.ask(`KV SET ${"é".repeat(126)} v`), rule, "252 bytes in UTF-8");
  assertEquals(await c.ask(`KV SET ${"k".repeat(250)} v`), "OK");
  assertEquals(await c.ask("KV SET tab\u0001key v"), `${rule}: received "tab\\x01key"`);
  // C1 controls too (U+009B is a terminal's CSI, U+0085 a line break): KV KEYS would list them raw.
  assertEquals(await c.ask("KV SET csi\u009bkey v"), `${rule}: received "csi\\x9bkey"`);
  assertEquals(await c.ask("KV GET nel\u0085key"), `${rule}: received "nel\\x85key"`);
  assertEquals(await c.ask("KV KEYS"), `DATA 251\n${"k".repeat(250)}\n`);
  assertEquals(await c.ask("PING"), "OK PONG");
});

Deno.test("KV stores values up to 65536 bytes at the default --max-line and refuses larger ones", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const max = "v".repeat(65536);
  assertEquals(await c.ask(`KV SET big ${max}`), "OK");
  assertEquals(await c.ask("KV GET big"), `OK ${max}`);
  assertEquals(await c.ask("KV GET big"), `OK ${max}`, "the old value is intact");
});

Deno.test("--max-line counts only a KV SET value; a longer value is ERR too-large within the line limit", async () => {
  await using server = await TestServer.start(["--max-line", "100"]);
  using c = await TestClient.connect(server.port);
  const key = "k".repeat(200);
  assertEquals(await c.ask(`KV SET ${key} ${"v".repeat(100)}`), "OK", "the key does not count");
  await c.send(`KV SET ${key} ${"v".repeat(101)}`);
  assertEquals(
    await c.readText(),
    "ERR line-too-long request line exceeds 100 bytes; the limit is --max-line 100",
  );
  await c.closedByServer();
  await using wide = await TestServer.start(["--max-line", "200000"]);
  using w = await TestClient.connect(wide.port);
  assertEquals(
    await w.ask(`KV SET big ${"v".repeat(65537)}`),
    "ERR too-large values are limited to 65536 bytes",
  );
});

Deno.test("20 clients × 50 concurrent KV INCR end at exactly 1000", async () => {
  await using server = await TestServer.start();
  const clients = await Promise.all(
    Array.from({ length: 20 }, () => TestClient.connect(server.port)),
  );
  try {
    // Each client pipelines all 50 at once, so the increments really overlap.
    await Promise.all(clients.map((c) => c.write("KV INCR hits\n".repeat(50))));
    const last = await Promise.all(clients.map(async (c) => {
      const replies: string[] = [];
      for (let i = 0; i < 50; i++) replies.push(await c.readText());
      return replies;
    }));
    const values = last.flat().map((r) => Number(r.slice(3)));
    assertEquals(new Set(values).size, 1000, "every increment saw a distinct value");
    assertEquals(Math.max(...values), 1000);
    assertEquals(await clients[0]!.ask("KV GET hits"), "OK 1000");
  } finally {
    for (const c of clients) c.close();
  }
});

Deno.test("an acknowledged KV SET survives kill -9 and a restart on the same --data", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-kv-" });
  try {
    {
      await using server = await TestServer.start([], { dir });
      using c = await TestClient.connect(server.port);
      assertEquals(await c.ask("KV SET durable yes, really"), "OK");
      assertEquals(await c.ask("KV INCR counter 41"), "OK 41");
      server.signal("SIGKILL");
      assertEquals((await server.exited()).signal, "SIGKILL");
    }
    await using again = await TestServer.start([], { dir });
    using c = await TestClient.connect(again.port);
    assertEquals(await c.ask("KV GET durable"), "OK yes, really");
    assertEquals(await c.ask("KV INCR counter"), "OK 42");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second server refuses a --data directory that another server is using", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-kv-" });
  try {
    await using first = await TestServer.start([], { dir });
    const second = await TestServer.start([], { dir }).then(
      () => "started",
      (error: Error) => error.message,
    );
    assertStringIncludes(
      second,
      `error: ${dir}/data is in use by another switchboard-server; give each server its own --data`,
    );
    using c = await TestClient.connect(first.port);
    assertEquals(await c.ask("KV INCR n"), "OK 1", "the first server is unaffected");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shutdown closes the KV database cleanly", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  assertEquals(await c.ask("KV SET k v"), "OK");
  server.signal("SIGTERM");
  assertEquals((await server.exited()).code, 0);
  // A clean close checkpoints SQLite's write-ahead log back into the database file.
  const files = [...Deno.readDirSync(`${server.dir}/data`)].map((e) => e.name).sort();
  assertEquals(files, ["switchboard.kv", "switchboard.lock"]);
});

Deno.test("client kv subcommands set, get, incr, keys and del", async () => {
  await using server = await TestServer.start();
  const kv = (...args: string[]) =>
    run(Deno.execPath(), [
      "run",
      "--allow-net",
      repoPath("client.ts"),
      "--port",
      String(server.port),
      "kv",
      ...args,
    ]);
  assertEquals(await kv("set", "name", "Ada", "Lovelace"), { code: 0, stdout: "", stderr: "" });
  assertEquals((await kv("get", "name")).stdout, "Ada Lovelace\n");
  assertEquals((await kv("incr", "n", "-3")).stdout, "-3\n");
  assertEquals((await kv("keys")).stdout, "n\nname\n");
  assertEquals((await kv("del", "name")).stdout, "deleted\n");
  assertEquals(await kv("get", "name"), {
    code: 1,
    stdout: "",
    stderr: "error: not-found: no key name\n",
  });
  assertEquals((await kv("pop")).code, 2);
});
