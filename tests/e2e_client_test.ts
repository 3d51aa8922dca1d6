/**
 * End to end: switchboard-client (docs/client.md) against a real server, run with
 * the permissions of `deno task client`: one-shot commands, exit codes,
 * usage errors, piped mode, `--json` shapes, the environment, and replies
 * only a stand-in server sends.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { populateKv, TestServer } from "./helpers.ts";
import { clientCommandLine, fakeServer, readRequest, reply, runClient } from "./client_helpers.ts";
import { Terminal } from "./terminal.ts";

function client(args: string[], stdin?: string) {
  return runClient(args, stdin === undefined ? {} : { stdin });
}

Deno.test("client one-shot commands print the reply payload and exit 0", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  assertEquals(await client([...port, "ping"]), { code: 0, stdout: "PONG\n", stderr: "" });
  assertEquals((await client(["calc", "add", "2", "-5", ...port])).stdout, "-3\n");
  assertEquals((await client(["echo", "a", "b", ...port])).stdout, "a b\n");
  assertEquals((await client([...port, "raw", "PING", "x"])).stdout, "x\n");
  assertEquals(
    (await client([...port, "hello", "Ada Lovelace", "S1", "ada"])).stdout,
    "hello Ada Lovelace\n",
  );
  assertMatch((await client([...port, "who"])).stdout, /^\d+ 127\.0\.0\.1:\d+ running - /);
  assertStringIncludes((await client([`--port=${server.port}`, "stats"])).stdout, "\nqueued 0\n");
  // COUNT's third word, as on the wire.
  assertEquals(await client([...port, "count", "5", "3", "10"]), {
    code: 0,
    stdout: "8\n",
    stderr: "",
  });
});

Deno.test("client reports ERR on stderr with exit 1, usage errors in one line with exit 2", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  assertEquals(await client([...port, "calc", "div", "1", "0"]), {
    code: 1,
    stdout: "",
    stderr: "error: div-by-zero: cannot divide by zero\n",
  });
  const usage = {
    "frobnicate": 'unknown command "frobnicate" (--help lists the commands)',
    "calc add 1": "calc takes 3 arguments, got 2; usage: calc <op> <a> <b>",
    "kv": "kv needs a subcommand; usage: kv set <key> <value...> | kv get|del <key> | " +
      "kv incr <key> [by] | kv keys [prefix]",
    "count 5": "count takes 2 to 3 arguments, got 1; usage: count <start> <increments> [<work-ms>]",
    "hello Ada": "hello needs a student id; usage: hello [name] [student-id] [github]",
    "-p 12000 ping": "unknown option -p (did you mean --port?)",
    "--bogus ping": "unknown option --bogus (--help lists the options)",
  };
  for (const [line, message] of Object.entries(usage)) {
    assertEquals(
      await client([...port, ...line.split(" ")]),
      { code: 2, stdout: "", stderr: `error: ${message}\n` },
      line,
    );
  }
});

Deno.test("client exits 3 when it cannot connect, saying what it knows about a missing reply", async () => {
  const server = await TestServer.start();
  const port = server.port;
  await server[Symbol.asyncDispose]();
  assertEquals(await client(["--port", String(port), "ping"]), {
    code: 3,
    stdout: "",
    stderr: `error: cannot connect to 127.0.0.1:${port}: connection refused\n`,
  });
  await using full = await TestServer.start(["--max-running", "1", "--queue-limit", "0"]);
  await using _hold = await holdSlot(full.port);
  const busy = await client(["--port", String(full.port), "ping"]);
  // Refused by the Manager: the server's ERR busy is the reply.
  assertEquals(busy.code, 1);
  assertEquals(busy.stderr, "error: busy: server full (1 running, 0 queued)\n");
  await using slow = await TestServer.start(["--max-running", "1"]);
  await using _hold2 = await holdSlot(slow.port);
  const timedOut = await client(["--port", String(slow.port), "--timeout", "0.3", "ping"]);
  assertEquals(timedOut, {
    code: 3,
    stdout: "",
    stderr: `error: no reply from 127.0.0.1:${slow.port} within 0.3 s (the server may have ` +
      `queued this connection until a slot frees, or the request is slow)\n`,
  });
});

Deno.test("client --timeout beyond what a timer holds is a usage error, not an instant timeout", async () => {
  await using server = await TestServer.start();
  const result = await client(["--port", String(server.port), "--timeout", "3000000", "ping"]);
  assertEquals(result.code, 2);
  assertMatch(result.stderr, /^error: --timeout must be a number of seconds from 0 to 2147483 /);
  const longest = await client(["--port", String(server.port), "--timeout", "2147483", "ping"]);
  assertEquals(longest, { code: 0, stdout: "PONG\n", stderr: "" });
});

/** Occupies the only running slot until disposed. */
async function holdSlot(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode("PING\n"));
  await conn.read(new Uint8Array(64));
  return {
    [Symbol.asyncDispose]: () => {
      try {
        conn.close();
      } catch { /* released already */ }
      return Promise.resolve();
    },
  };
}

Deno.test("client piped mode sends every line, prints every reply, exits 1 after an ERR", async () => {
  await using server = await TestServer.start();
  const script = "PING\n\nCALC add 1 2\nNOPE\nECHO last\n";
  const result = await client(["--port", String(server.port)], script);
  assertEquals(result.stdout, "PONG\n3\nlast\n");
  assertEquals(
    result.stderr,
    "error: unknown-command: NOPE is not a command; HELP lists the commands\n",
  );
  assertEquals(result.code, 1);
  const clean = await client(["--port", String(server.port)], "PING\nQUIT\nPING\n");
  assertEquals(clean, { code: 0, stdout: "PONG\nbye\n", stderr: "" });
  const many = Array.from({ length: 500 }, (_, i) => `ECHO ${i}`).join("\n");
  const pipelined = await client(["--port", String(server.port)], many);
  assertEquals(pipelined.stdout, Array.from({ length: 500 }, (_, i) => `${i}\n`).join(""));
});

Deno.test("client --json prints one JSON object per reply, structured where the reply has a shape", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  const result = await client(
    ["--json", ...port],
    "PING\nCALC div 1 0\nHELP PING\nKV SET b 1\nKV SET a 2\nKV KEYS\nKV SCAN LIMIT 1\n",
  );
  const lines = result.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines[0], { ok: true, text: "PONG" });
  assertEquals(lines[1], { ok: false, code: "div-by-zero", message: "cannot divide by zero" });
  assertEquals(lines[2].ok, true);
  assertMatch(lines[2].data, /^PING \[text\]/);
  assertEquals(lines.slice(5), [{ ok: true, keys: ["a", "b"] }, { ok: true, keys: ["a"] }]);
  assertEquals(result.code, 1);

  const stats = JSON.parse((await client([...port, "stats", "--json"])).stdout);
  assertEquals(stats.ok, true);
  assertEquals(stats.running, 1, "jq .running works");
  assertEquals(typeof stats.uptime_s, "number");
  const who = JSON.parse((await client([...port, "--json", "who"])).stdout);
  assertEquals(who.connections.length, 1);
  assertEquals(who.connections[0].address, "127.0.0.1");
  assertEquals(who.connections[0].state, "running");
  assertEquals(who.connections[0].name, null);
  const ls = JSON.parse((await client([...port, "--json", "ls"])).stdout);
  assertEquals(ls, { ok: true, files: [] });
  const keys = JSON.parse((await client([...port, "--json", "kv", "keys"])).stdout);
  assertEquals(keys, { ok: true, keys: ["a", "b"] });
});

Deno.test("client --help goes to stdout; --version prints the version", async () => {
  const help = await client(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /^usage: switchboard-client/);
  assertEquals((await client(["--version"])).stdout, "switchboard-client 0.1.0\n");
});

Deno.test("client takes the server from SWITCHBOARD_HOST and SWITCHBOARD_PORT, options first", async () => {
  await using server = await TestServer.start();
  const env = { SWITCHBOARD_HOST: "127.0.0.1", SWITCHBOARD_PORT: String(server.port) };
  assertEquals(await runClient(["ping"], { env }), { code: 0, stdout: "PONG\n", stderr: "" });
  const overridden = await runClient(["--port", "1", "ping"], { env });
  assertEquals(overridden.code, 3);
  assertStringIncludes(overridden.stderr, "cannot connect to 127.0.0.1:1");
  const bad = await runClient(["ping"], { env: { SWITCHBOARD_PORT: "twelve" } });
  assertEquals(bad, {
    code: 2,
    stdout: "",
    stderr: 'error: SWITCHBOARD_PORT must be an integer from 1 to 65535: received "twelve"\n',
  });
});

Deno.test("client kv keys lists every key past KEYS's limit, paging KV SCAN (real server)", async () => {
  // 10,001 keys with the prefix LIMIT (a SCAN keyword: it must go quoted), and two others.
  const dir = await Deno.makeTempDir({ prefix: "switchboard-kv-" });
  const keys = Array.from({ length: 10_001 }, (_, i) => `LIMIT${String(i).padStart(5, "0")}`);
  await populateKv(`${dir}/data`, [...keys, "a", "z"]);
  await using server = await TestServer.start([], { dir });
  const port = ["--port", String(server.port)];
  const raw = await client([...port, "raw", "KV", "KEYS"]);
  assertEquals(raw.code, 1, "the server itself refuses the listing");
  const all = await client([...port, "kv", "keys"]);
  assertEquals(all.code, 0, all.stderr);
  const listed = all.stdout.trimEnd().split("\n");
  assertEquals(listed.length, 10_003);
  // Ascending byte order: capitals before lower case.
  assertEquals([listed[0], listed.at(-3), listed.at(-2), listed.at(-1)], [
    "LIMIT00000",
    "LIMIT10000",
    "a",
    "z",
  ]);
  assert(listed.slice(1).every((key, i) => key > listed[i]!), "ascending, once each");
  const prefixed = JSON.parse((await client([...port, "--json", "kv", "keys", "LIMIT"])).stdout);
  assertEquals(prefixed.keys.length, 10_001);
  assertEquals(prefixed.keys.at(-1), "LIMIT10000");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("client kv keys pages with the exact SCAN requests: quoted keyword prefix, AFTER the last key", async () => {
  const keys = Array.from({ length: 20_001 }, (_, i) => `AFTER${String(i).padStart(5, "0")}`);
  const requests: string[] = [];
  using server = fakeServer(async (conn) => {
    const buffered = { text: "" };
    for (
      let line = await readRequest(conn, buffered);
      line !== null;
      line = await readRequest(conn, buffered)
    ) {
      requests.push(line);
      if (line.startsWith("KV KEYS")) {
        await reply(conn, "ERR too-large more than 10000 keys match\n");
        continue;
      }
      const after = /AFTER (\S+) LIMIT/.exec(line)?.[1];
      const page = keys.filter((key) => after === undefined || key > after).slice(0, 10_000);
      const body = page.map((key) => key + "\n").join("");
      await reply(conn, `DATA ${new TextEncoder().encode(body).length}\n${body}\n`);
    }
  });
  const result = await client(["--port", String(server.port), "kv", "keys", "AFTER"]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout, keys.map((key) => key + "\n").join(""));
  assertEquals(requests, [
    "KV KEYS AFTER",
    'KV SCAN "AFTER" LIMIT 10000',
    'KV SCAN "AFTER" AFTER AFTER09999 LIMIT 10000',
    'KV SCAN "AFTER" AFTER AFTER19999 LIMIT 10000',
  ]);
});

Deno.test("client shows the server's text byte-exact, never re-cased", async () => {
  using odd = fakeServer(async (conn) => {
    const buffered = { text: "" };
    const line = await readRequest(conn, buffered);
    await reply(conn, line === "STATS" ? "ERR busy Server FULL, Try LATER\n" : "PING\n");
  });
  assertEquals(await client(["--port", String(odd.port), "stats"]), {
    code: 1,
    stdout: "",
    stderr: "error: busy: Server FULL, Try LATER\n",
  });
  assertEquals(await client(["--port", String(odd.port), "ping"]), {
    code: 3,
    stdout: "",
    stderr: `error: connection to 127.0.0.1:${odd.port} lost: unexpected reply from server: PING\n`,
  });
});

Deno.test("client exits 3 with a clear line when the server closes mid-reply", async () => {
  using server = fakeServer(async (conn) => {
    await conn.read(new Uint8Array(64));
    await reply(conn, "DATA 100\nonly part");
  });
  const result = await client(["--port", String(server.port), "stats"]);
  assertEquals(result, {
    code: 3,
    stdout: "",
    stderr: `error: 127.0.0.1:${server.port} closed the connection in the middle of a reply\n`,
  });
});

Deno.test("client hello on a terminal asks for what is missing, again when left empty", async () => {
  await using server = await TestServer.start();
  const term = new Terminal(clientCommandLine(["--port", String(server.port), "hello", "Ada"]));
  await term.waitFor("student id:");
  await term.type("");
  await term.waitFor(/student id:[^]*student id:/);
  await term.type("S1815");
  await term.waitFor("GitHub user:");
  await term.type("ada");
  await term.waitFor("hello Ada");
  assertEquals(await term.exit(), 0);
  await server.waitForLog(/hello client=\d+ name="Ada" student_id=S1815 github=ada/);
});

Deno.test("client one-shot on a terminal says it is waiting, in words true when queued", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  await using _hold = await holdSlot(server.port);
  const term = new Terminal(clientCommandLine(["--port", String(server.port), "ping", "late"]));
  await term.waitFor(
    "no reply for 1 s: the server may have queued this connection until a slot frees, " +
      "or the request is slow",
  );
  await _hold[Symbol.asyncDispose]();
  await term.waitFor("late");
  assertEquals(await term.exit(), 0);
});
