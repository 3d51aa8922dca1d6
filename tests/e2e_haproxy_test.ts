/**
 * End to end: two servers on one PostgreSQL store behind a real HAProxy
 * (Debian's `haproxy` and `postgresql`, which .ci/run installs), configured
 * exactly as docs/several-servers.md#behind-haproxy says (tests/haproxy.ts
 * reads it from the page). Clients bound to 127.0.0.2, 127.0.0.3, … are
 * distinct clients; HAProxy (127.0.0.1) names them to the servers with
 * `send-proxy-v2`. One private cluster (tests/postgres.ts) serves every
 * step, each on a fresh database.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { clientArgs, eventually, run, TestClient } from "./helpers.ts";
import { HaproxySetup, type SetupOptions } from "./haproxy.ts";
import { PostgresCluster } from "./postgres.ts";
import { makeTlsFixture, tlsServerArgs } from "./tls_fixtures.ts";
import { ADA } from "./users_fixtures.ts";

/** Which of the setup's servers lists a connection from `address` in WHO (its index), or -1. */
async function serverOf(setup: HaproxySetup, address: string): Promise<number> {
  for (const [i, server] of setup.servers.entries()) {
    if ((await setup.who(server)).some((line) => line.includes(` ${address}:`))) return i;
  }
  return -1;
}

/** `switchboard-client --port <HAProxy> --user ada …`, the password from the environment. */
function clientThrough(setup: HaproxySetup, words: string[], stdin?: string) {
  return run(
    Deno.execPath(),
    [...clientArgs(setup.port), "--host", "127.0.0.1", "--user", "ada", ...words],
    stdin,
    { env: { SWITCHBOARD_PASSWORD: ADA.password } },
  );
}

Deno.test("two servers on one store behind HAProxy, as docs/several-servers.md sets them up", async (t) => {
  await using cluster = await PostgresCluster.start();
  const start = async (options: Omit<SetupOptions, "store"> = {}) =>
    HaproxySetup.start({ ...options, store: cluster.url(await cluster.createDatabase()) });

  await t.step(
    "clients reach both servers, see one store, and WHO shows their real addresses",
    async () => {
      await using setup = await start();
      using first = await setup.client("127.0.0.2");
      using second = await setup.client("127.0.0.3");
      // leastconn: the second client goes to the server the first is not on.
      const [one, two] = [await serverOf(setup, "127.0.0.2"), await serverOf(setup, "127.0.0.3")];
      assertEquals([one, two].sort(), [0, 1]);
      // One store: what one server stores, the other serves.
      assertEquals(await first.ask("KV SET shared from-one"), "OK");
      assertEquals(await second.ask("KV GET shared"), "OK from-one");
      assertEquals(await second.ask("KV INCR hits"), "OK 1");
      assertEquals(await first.ask("KV INCR hits"), "OK 2");
      assertMatch(
        await first.put("note.txt", "across servers"),
        /^OK stored note\.txt 14 [0-9a-f]{64}$/,
      );
      assertMatch(await second.ask("FILE GET note.txt"), /^DATA 14\nacross servers$/);
      // Each client's own WHO line shows its address, not HAProxy's.
      assertEquals(await second.ask("HELLO Grace 2 gh"), "OK hello Grace");
      const who = await second.ask("WHO");
      assertMatch(who, /^\d+ 127\.0\.0\.3:\d+ running Grace /m);
      assert(!/ 127\.0\.0\.1:/.test(who), `WHO shows HAProxy's address:\n${who}`);
      await setup.servers[two]!.waitForLog(
        /connection opened client=\d+ address=127\.0\.0\.3:\d+ via=127\.0\.0\.1:\d+/,
      );
    },
  );

  await t.step("--max-per-ip counts the clients HAProxy names, not HAProxy", async () => {
    await using setup = await start({ serverArgs: ["--max-per-ip", "1"] });
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

  await t.step("kill -9 of one server: HAProxy sends every new client to the other", async () => {
    await using setup = await start();
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
    for (let i = 0; i < 12; i++) {
      survivor!.assertLogged(
        new RegExp(`connection opened client=\\d+ address=127\\.0\\.0\\.${10 + i}:`),
      );
    }
  });

  await t.step(
    "SIGTERM of one server drains it while HAProxy sends new clients to the other",
    async () => {
      // One worker thread: the COUNT below takes its whole 6 s, under --drain-timeout (10 s).
      await using setup = await start({ serverArgs: ["--workers", "1"] });
      using busy = await setup.client("127.0.0.2");
      using bystander = await setup.client("127.0.0.3");
      const draining = setup.servers[await serverOf(setup, "127.0.0.2")]!;
      const other = setup.servers[await serverOf(setup, "127.0.0.3")]!;
      assert(draining !== other);
      // 6 s of work, in hand when the signal comes: the drain outlasts HAProxy's two failed
      // checks (a second apart) with room to spare on a loaded machine.
      await busy.send("COUNT 0 60 100");
      // In hand once its first increment is done: a COUNT not yet read when the signal comes is
      // no request in hand, the drain ends at once, and the check port closes before a 503.
      const metrics = `http://127.0.0.1:${setup.metricsPorts[setup.servers.indexOf(draining)]}`;
      await eventually(
        async () =>
          /^switchboard_jobs_total [1-9]/m.test(await (await fetch(`${metrics}/metrics`)).text()),
        "the draining server's first COUNT increment",
      );
      draining.signal("SIGTERM");
      await draining.waitForLog(/shutting down/);
      const name = HaproxySetup.NAMES[setup.servers.indexOf(draining)];
      // The check sees `503 shutting down` and takes the server out while it drains.
      await setup.waitForHaproxyLog(new RegExp(`Server switchboards/${name} is DOWN.*503`));
      for (let i = 0; i < 4; i++) {
        using client = await setup.client(`127.0.0.${20 + i}`);
        assertEquals(await client.ask("PING"), "OK PONG");
      }
      assertEquals(await busy.readText(), "OK 60");
      assertEquals(await busy.readText(), "ERR shutdown server is shutting down");
      assertEquals((await draining.exited()).code, 0);
      // The new clients all went to the other server.
      for (let i = 0; i < 4; i++) {
        draining.assertLogged(new RegExp(`address=127\\.0\\.0\\.${20 + i}:`), false);
        other.assertLogged(new RegExp(`address=127\\.0\\.0\\.${20 + i}:`));
      }
      assertEquals(await bystander.ask("PING"), "OK PONG");
    },
  );

  await t.step(
    "/healthz says 503 while the store is down, and HAProxy takes both servers out",
    async () => {
      await using setup = await start();
      assertEquals(await setup.health(0), [200, "ok\n"]);
      await cluster.stopServer();
      try {
        for (const index of [0, 1]) {
          await eventually(async () => (await setup.health(index))[0] === 503, "a 503 health");
          assertMatch((await setup.health(index))[1], /^store unreachable: .+\n$/);
        }
        await setup.waitForHaproxyLog(/Server switchboards\/one is DOWN.*503/);
        await setup.waitForHaproxyLog(/Server switchboards\/two is DOWN.*503/);
      } finally {
        await cluster.startServer();
      }
      await eventually(async () => (await setup.health(0))[0] === 200, "health back to 200");
      await setup.waitForHaproxyLog(/Server switchboards\/one is UP/);
      using client = await setup.client("127.0.0.2");
      assertEquals(await client.ask("KV SET back yes"), "OK");
    },
  );

  await t.step("switchboard-client works through HAProxy", async () => {
    await using setup = await start();
    assertEquals(await clientThrough(setup, ["ping"]), { code: 0, stdout: "PONG\n", stderr: "" });
    assertEquals(await clientThrough(setup, ["kv", "set", "k", "v"]), {
      code: 0,
      stdout: "",
      stderr: "",
    });
    const piped = await clientThrough(setup, [], "PING a\nKV GET k\n");
    assertEquals([piped.code, piped.stdout], [0, "a\nv\n"]);
  });

  await t.step("switchboard-client --tls works through HAProxy (TLS at the servers)", async () => {
    await using fixture = await makeTlsFixture();
    await using setup = await start({ serverArgs: tlsServerArgs(fixture) });
    const tls = ["--tls", "--cacert", fixture.caCertPath];
    assertEquals(await clientThrough(setup, [...tls, "ping"]), {
      code: 0,
      stdout: "PONG\n",
      stderr: "",
    });
    assertEquals((await clientThrough(setup, [...tls, "kv", "set", "t", "over tls"])).code, 0);
    assertEquals(await clientThrough(setup, [...tls, "kv", "get", "t"]), {
      code: 0,
      stdout: "over tls\n",
      stderr: "",
    });
    // The servers saw the client's address through the header, before the handshake.
    const opened = setup.servers.flatMap((s) =>
      s.log.filter((l) => l.includes("connection opened"))
    );
    assertEquals(opened.length, 3);
    assert(opened.every((l) => / via=127\.0\.0\.1:/.test(l)), opened.join("\n"));
  });
});
