/** End to end with `nc`, the way a person drives the server (the README walkthrough). */
import { assertEquals } from "@std/assert";
import { assertStartsWith, run, TestServer } from "./helpers.ts";
import { NcSession } from "./nc_session.ts";

Deno.test("nc -N gets one reply per line and the server closes after QUIT", async () => {
  await using server = await TestServer.start();
  const { code, stdout } = await run(
    "nc",
    ["-N", "127.0.0.1", String(server.port)],
    "PING\nCALC add 2 3\nECHO hello, nc\nQUIT\nPING\n",
  );
  assertEquals(code, 0);
  assertEquals(stdout, "OK PONG\nOK 5\nOK hello, nc\nOK bye\n");
});

Deno.test("two nc sessions with max-running 1: the second starts the moment the first quits", async () => {
  // The lab's positional form, `switchboard-server PORT 1`, with port 0 for a free one.
  await using server = await TestServer.start(["0", "1"], { positional: true });
  await using first = new NcSession(server.port);
  await first.type("HELLO Ada S1 ada");
  assertEquals(await first.line(), "OK hello Ada");
  await using second = new NcSession(server.port);
  await second.type("PING waiting");
  await server.waitForLog(/client queued/);
  await first.type("WHO");
  assertStartsWith(await first.line(), "DATA ");
  const running = await first.line();
  const queued = await first.line();
  assertEquals(running.includes(" running Ada "), true, running);
  assertEquals(queued.includes(" queued - "), true, queued);
  await first.line(); // the LF after the DATA body
  await first.type("QUIT");
  assertEquals(await first.line(), "OK bye");
  assertEquals(await second.line(), "OK waiting");
  await second.type("CALC mul 6 7");
  assertEquals(await second.line(), "OK 42");
});
