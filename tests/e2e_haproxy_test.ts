/**
 * End to end: two servers behind a real HAProxy (Debian's `haproxy`, which
 * .ci/run installs), configured exactly as docs/several-servers.md#behind-haproxy
 * says (tests/haproxy.ts reads it from the page). Clients bound to
 * 127.0.0.2, 127.0.0.3, … are distinct clients; HAProxy (127.0.0.1) names
 * them to the servers with `send-proxy-v2`.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { clientArgs, eventually, run, TestClient } from "./helpers.ts";
import { HaproxySetup } from "./haproxy.ts";
import { ADA } from "./users_fixtures.ts";

/** Which of the setup's servers lists a connection from `address` in WHO (its index), or -1. */
async function serverOf(setup: HaproxySetup, address: string): Promise<number> {
  for (const [i, server] of setup.servers.entries()) {
    if ((await setup.who(server)).some((line) => line.includes(` ${address}:`))) return i;
  }
  return -1;
}

Deno.test("clients through HAProxy reach both servers, and WHO shows their real addresses", async () => {
  await using setup = await HaproxySetup.start();
  using first = await setup.client("127.0.0.2");
  using second = await setup.client("127.0.0.3");
  assertEquals(await first.ask("PING"), "OK PONG");
  // leastconn: the second client goes to the server the first is not on.
  const [one, two] = [await serverOf(setup, "127.0.0.2"), await serverOf(setup, "127.0.0.3")];
  assertEquals([one, two].sort(), [0, 1]);
  // Each client's own WHO line shows its address, not HAProxy's.
  assertEquals(await second.ask("HELLO Grace 2 gh"), "OK hello Grace");
  const who = await second.ask("WHO");
  assertMatch(who, /^\d+ 127\.0\.0\.3:\d+ running Grace /m);
  assert(!/ 127\.0\.0\.1:/.test(who), `WHO shows HAProxy's address:\n${who}`);
  await setup.servers[two]!.waitForLog(/connection opened client=\d+ address=127\.0\.0\.3:\d+/);
});

Deno.test("--max-per-ip counts the clients HAProxy names, not HAProxy", async () => {
  await using setup = await HaproxySetup.start({ serverArgs: ["--max-per-ip", "1"] });
  // One connection of 127.0.0.2 per server: leastconn puts the two on different servers.
  using a = await setup.client("127.0.0.2");
  using b = await setup.client("127.0.0.2");
  using third = await TestClient.connectFrom(setup.port, "127.0.0.2");
  assertEquals(await third.ask("PING"), "ERR busy too many connections from your address");
  // Another client is not counted with them, though it comes through the same HAProxy.
  using other = await setup.client("127.0.0.3");
  assertEquals(await other.ask("PING"), "OK PONG");
  assertEquals([await a.ask("PING"), await b.ask("PING")], ["OK PONG", "OK PONG"]);
});

Deno.test("kill -9 of one server: HAProxy sends every new client to the other", async () => {
  await using setup = await HaproxySetup.start();
  const [victim, survivor] = setup.servers;
  victim!.signal("SIGKILL");
  await victim!.exited();
  // Right away (before the health check has noticed) and for a while after, every
  // client is served: a refused connection is retried on the other server.
  for (let i = 0; i < 12; i++) {
    using client = await setup.client(`127.0.0.${10 + i}`);
    assertEquals(await client.ask(`PING ${i}`), `OK ${i}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // HAProxy's check took the dead server out (and clients no longer even try it).
  await setup.waitForHaproxyLog(/Server switchboards\/one is DOWN/);
  // Every one of them was served by the survivor.
  for (let i = 0; i < 12; i++) {
    survivor!.assertLogged(
      new RegExp(`connection opened client=\\d+ address=127\\.0\\.0\\.${10 + i}:`),
    );
  }
});

Deno.test("SIGTERM of one server drains its clients while HAProxy sends new ones to the other", async () => {
  await using setup = await HaproxySetup.start();
  using busy = await setup.client("127.0.0.2");
  using bystander = await setup.client("127.0.0.3");
  const draining = setup.servers[await serverOf(setup, "127.0.0.2")]!;
  const other = setup.servers[await serverOf(setup, "127.0.0.3")]!;
  assert(draining !== other);
  // 5 s of work, in hand when the signal comes: the drain outlasts HAProxy's two failed checks.
  await busy.send("COUNT 0 50 100");
  await draining.waitForLog(/COUNT|client started/);
  draining.signal("SIGTERM");
  await draining.waitForLog(/shutting down/);
  const name = HaproxySetup.NAMES[setup.servers.indexOf(draining)];
  // The check sees `503 shutting down` and takes the server out while it drains.
  await setup.waitForHaproxyLog(new RegExp(`Server switchboards/${name} is DOWN.*503`));
  for (let i = 0; i < 4; i++) {
    using client = await setup.client(`127.0.0.${20 + i}`);
    assertEquals(await client.ask("PING"), "OK PONG");
  }
  // Those went to the other server; the draining one finished the request in hand.
  await eventually(async () => {
    const lines = await setup.who(other);
    return lines.some((line) => line.includes(" 127.0.0.3:"));
  }, "the bystander still served by the other server");
  assertEquals(await busy.readText(), "OK 50");
  assertEquals(await busy.readText(), "ERR shutdown server is shutting down");
  assertEquals((await draining.exited()).code, 0);
  for (let i = 0; i < 4; i++) {
    draining.assertLogged(new RegExp(`address=127\\.0\\.0\\.${20 + i}:`), false);
  }
  assertEquals(await bystander.ask("PING"), "OK PONG");
});

Deno.test("switchboard-client works through HAProxy", async () => {
  await using setup = await HaproxySetup.start();
  const env = { SWITCHBOARD_PASSWORD: ADA.password };
  const client = (...words: string[]) =>
    run(Deno.execPath(), [...clientArgs(setup.port), "--user", "ada", ...words], undefined, {
      env,
    });
  assertEquals(await client("ping"), { code: 0, stdout: "PONG\n", stderr: "" });
  assertEquals(await client("calc", "mul", "6", "7"), { code: 0, stdout: "42\n", stderr: "" });
  const piped = await run(
    Deno.execPath(),
    [...clientArgs(setup.port), "--user", "ada"],
    "PING a\nKV SET k v\nKV GET k\n",
    { env },
  );
  assertEquals([piped.code, piped.stdout], [0, "a\nv\n"]);
});
