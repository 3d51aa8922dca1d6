/** End to end: the wire protocol of docs/protocol.md#commands against a real server process. */
import { assertEquals, assertMatch } from "@std/assert";
import { parseStats, STAT_KEYS, TestClient, TestServer } from "./helpers.ts";

Deno.test("server answers PING, ECHO, CALC and HELP over TCP", async () => {
  await using server = await TestServer.start();
  using client = await TestClient.connect(server.port);
  assertEquals(await client.ask("PING"), "OK PONG");
  assertEquals(await client.ask("PING hello there"), "OK hello there");
  assertEquals(await client.ask('ECHO  two  spaces ☎ "q'), 'OK  two  spaces ☎ "q');
  assertEquals(await client.ask("calc ADD 2 3"), "OK 5");
  const help = await client.ask("HELP");
  for (const name of ["HELP", "PING", "ECHO", "QUIT", "HELLO", "WHO", "STATS", "CALC"]) {
    assertMatch(help, new RegExp(`^${name}\\b`, "m"));
  }
  assertMatch(await client.ask("help calc"), /^DATA \d+\nCALC <op> <a> <b> +op: add/);
  assertEquals(
    await client.ask("HELP NOPE"),
    "ERR unknown-command NOPE is not a command; HELP lists the commands",
  );
  assertEquals(
    await client.ask("FROB 1 2"),
    "ERR unknown-command FROB is not a command; HELP lists the commands",
  );
});

Deno.test("server answers pipelined requests in order, CRLF and blank lines included", async () => {
  await using server = await TestServer.start();
  using client = await TestClient.connect(server.port);
  const requests = Array.from({ length: 200 }, (_, i) => `ECHO ${i}`);
  await client.write(["PING\r", "", "  \t ", ...requests, "calc mul 6 7\r"].join("\n") + "\n");
  assertEquals(await client.readText(), "OK PONG");
  for (let i = 0; i < 200; i++) assertEquals(await client.readText(), `OK ${i}`);
  assertEquals(await client.readText(), "OK 42");
  // Blank lines got no reply: the next reply is the answer to the next request.
  assertEquals(await client.ask("PING"), "OK PONG");
});

Deno.test("QUIT, EXIT and STOP say bye and close the connection", async () => {
  await using server = await TestServer.start();
  for (const word of ["QUIT", "exit", "Stop"]) {
    using client = await TestClient.connect(server.port);
    await client.send(`${word}\nPING`);
    assertEquals(await client.readText(), "OK bye");
    await client.closedByServer();
  }
});

Deno.test("HELLO records an identity that WHO lists and the log shows", async () => {
  await using server = await TestServer.start();
  using ada = await TestClient.connect(server.port);
  using anon = await TestClient.connect(server.port);
  assertEquals(await ada.ask('HELLO "Ada Lovelace" S1815 ada-l'), "OK hello Ada Lovelace");
  assertEquals(await anon.ask("PING"), "OK PONG");
  // Ada's line first, whatever the ids: on two network threads, the connection made
  // second may be accepted first.
  const who = (await ada.ask("WHO")).split("\n").slice(1, -1)
    .sort((a, b) => a.includes('"Ada Lovelace"') ? -1 : b.includes('"Ada Lovelace"') ? 1 : 0);
  assertEquals(who.length, 2);
  assertMatch(
    who[0]!,
    /^\d+ 127\.0\.0\.1:\d+ running "Ada Lovelace" \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
  );
  assertMatch(who[1]!, /^\d+ 127\.0\.0\.1:\d+ running - \d{4}-\d\d-\d\dT[\d:.]+Z$/);
  await server.waitForLog(
    /INFO +hello client=\d+ name="Ada Lovelace" student_id=S1815 github=ada-l/,
  );
  assertEquals(
    await ada.ask("HELLO Ada S1 not_a_valid_user!"),
    'ERR bad-args github must be a GitHub user name (1-39 letters, digits, inner hyphens): received "not_a_valid_user!"',
  );
  assertEquals(
    await ada.ask("HELLO Ada"),
    "ERR bad-args HELLO takes <name> <student-id> <github>, got 1 argument",
  );
  // C1 controls (U+0080-U+009F) are control characters too: WHO and the reply would show them raw.
  for (const line of ['HELLO "Ada\u009b[2J" S1 ada-l', "HELLO Ada S1\u0085 ada-l"]) {
    assertMatch(
      await ada.ask(line),
      /^ERR bad-args (name|student-id) must be 1-100 characters without control characters$/,
    );
  }
  assertMatch(await ada.ask("WHO"), /running "Ada Lovelace" /, "the identity is unchanged");
});

Deno.test("keywords are ASCII case-insensitive only: Unicode look-alikes are no command, subcommand or operator", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const unknown = (word: string) =>
    `ERR unknown-command ${word} is not a command; HELP lists the commands`;
  // Unicode upper-casing makes each of these a keyword: FILE, FILE, LIST, SET, STOP.
  assertEquals(await c.ask("f\u0131le LIST"), unknown("f\u0131le"));
  assertEquals(await c.ask("\ufb01le LIST"), unknown("\ufb01le"));
  assertEquals(await c.ask("HELP f\u0131le"), unknown("f\u0131le"));
  assertEquals(
    await c.ask("FILE l\u0131st"),
    'ERR bad-args FILE takes LIST, PUT, GET or DEL, got "l\u0131st"',
  );
  assertEquals(
    await c.ask("KV \u017fet k v"),
    'ERR bad-args KV takes SET, GET, DEL, INCR, KEYS or SCAN, got "\u017fet"',
  );
  assertMatch(await c.ask("CALC \u017fub 5 3"), /^ERR bad-args unknown operator "\u017fub": /);
  assertEquals(await c.ask("\u017ftop"), unknown("\u017ftop"));
  // ASCII letters still match in any case.
  assertEquals(await c.ask("fIlE list"), "DATA 0\n");
  assertEquals(await c.ask("calc SuB 5 3"), "OK 2");
});

Deno.test("STATS counts connections, commands and bytes", async () => {
  await using server = await TestServer.start();
  using client = await TestClient.connect(server.port);
  await client.ask("PING");
  await client.ask("ECHO x");
  const stats = parseStats(await client.ask("STATS"));
  assertEquals(Object.keys(stats), [...STAT_KEYS]);
  assertEquals(stats.max_running, 64);
  assertEquals(stats.running, 1);
  assertEquals(stats.accepted_total, 1);
  assertEquals(stats.commands_total, 3);
  assertEquals(stats.bytes_in, "PING\nECHO x\nSTATS\n".length);
  assertEquals(stats.bytes_out, "OK PONG\nOK x\n".length);
});

Deno.test("server logs JSON lines with --log-format json and every request with -v", async () => {
  await using server = await TestServer.start(["--log-format", "json", "-v"]);
  using client = await TestClient.connect(server.port);
  await client.ask("PING");
  const line = await server.waitForLog(/"msg":"request"/);
  const entry = JSON.parse(line);
  assertEquals([entry.level, entry.command], ["debug", "PING"]);
  assertMatch(entry.ts, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  assertMatch(
    server.log[0]!,
    /^\{"ts":".*","level":"info","msg":"listening on 127\.0\.0\.1:\d+, max 64 running, queue 1024(, \d+ threads)?"\}$/,
  );
});

Deno.test("CALC on integers of thousands of digits is exact (computed on a worker thread), and its errors are the same", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const a = `${"12345678901".repeat(300)}`;
  const b = `-${"98765432109".repeat(300)}`;
  assertEquals(await c.ask(`CALC mul ${a} ${b}`), `OK ${BigInt(a) * BigInt(b)}`);
  assertEquals(
    await c.ask(`CALC div ${a} 0${"0".repeat(4000)}`),
    "ERR div-by-zero cannot divide by zero",
  );
  assertEquals(await c.ask("PING"), "OK PONG");
});
