/**
 * The small ones of docs/protocol.md#commands–docs/protocol.md#limits-and-bad-input: a huge KV prefix, control characters from a
 * client in replies and logs, and `--echo` not touching the KV store.
 */
import { assert, assertEquals } from "@std/assert";
import { TestClient, TestServer } from "../helpers.ts";

Deno.test("KV KEYS with a prefix longer than any key matches nothing (not ERR internal)", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  assertEquals(await c.ask("KV SET a 1"), "OK");
  assertEquals(await c.ask(`KV KEYS ${"p".repeat(3000)}`), "DATA 0\n");
  assertEquals(await c.ask(`KV SCAN ${"p".repeat(3000)}`), "DATA 0\n");
});

Deno.test("control characters a client sends are escaped in replies and in the -v log, spelling kept", async () => {
  await using server = await TestServer.start(["-v"]);
  using c = await TestClient.connect(server.port);
  assertEquals(
    await c.ask("\x1b[2Jnope\x07 x"),
    "ERR unknown-command \\x1b[2Jnope\\x07 is not a command; HELP lists the commands",
  );
  assertEquals(
    await c.ask("CALC add 1 \x1b]0;owned\x07"),
    'ERR bad-args "\\x1b]0;owned\\x07" is not a number: use an integer (any length) or a decimal like 1.5 or -2e3',
  );
  assertEquals(
    await c.ask('HELLO "a\\\x1bb" x y'),
    'ERR bad-request bad escape \\\\x1b at column 9: inside quotes only \\" and \\\\ are escapes',
  );
  await server.waitForLog(/request client=\d+ command=/);
  // deno-lint-ignore no-control-regex -- finding raw control characters is the point
  const raw = /[\x00-\x08\x0b-\x1f\x7f]/;
  for (const line of server.log) {
    assert(
      !raw.test(line),
      `a raw control character in the log: ${JSON.stringify(line)}`,
    );
  }
  server.assertLogged(/command="\\x1b\[2JNOPE\\x07"/);
});

Deno.test("--echo opens no KV store: two echo servers can share one --data", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-echo-" });
  try {
    await using first = await TestServer.start(["--echo", "--data", `${dir}/data`]);
    await using second = await TestServer.start(["--echo", "--data", `${dir}/data`]);
    for (const server of [first, second]) {
      using c = await TestClient.connect(server.port);
      await c.write("hello\n");
      assertEquals(await c.replies.readLine(), "hello");
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
