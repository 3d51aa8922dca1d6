/**
 * The shared store when things go wrong (docs/several-servers.md#when-the-database-is-down): bad
 * URLs, a password that must never show, tables of another version, the
 * database down at start, stopped, killed, or lost mid-GET, and a server
 * killed mid-write. One private cluster for the whole file (tests/postgres.ts).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { PostgresCluster, TEST_PASSWORD } from "./postgres.ts";
import { concat, randomBytes, runServerToExit, sha256, TestClient, TestServer } from "./helpers.ts";

const encoder = new TextEncoder();
const UNREACHABLE = /^ERR unavailable store unreachable: \S/;

Deno.test("the shared store through faults", async (t) => {
  await using cluster = await PostgresCluster.start();

  await t.step(
    "a malformed --store URL is a usage error that never shows the password",
    async () => {
      for (
        const [url, why] of [
          ["mysql://u:hunter2pw@db/x", "it must start with postgres://"],
          ["postgres://u:hunter2pw@db", "it must name one database after the host"],
          ["postgres://u:hunter2pw@db/a/b", "it must name one database after the host"],
          ["postgres://u:hunter2pw@db:99999/x", "it is not a URL"],
          ["postgres://u:hunter2pw@db/x?sslmode=require", "options (?…, #…) are not supported"],
          ["postgres://u:hunter2pw@/x", "it is not a URL"],
        ]
      ) {
        const { code, stderr } = await runServerToExit(["--store", url!]);
        assertEquals(code, 2, stderr);
        assertStringIncludes(
          stderr,
          `error: --store must be postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE: ${why}`,
        );
        assert(!stderr.includes("hunter2pw"), `the password was shown:\n${stderr}`);
        assertStringIncludes(stderr, "u:***@");
      }
    },
  );

  await t.step(
    "a wrong password is never logged nor sent, and the server keeps trying",
    async () => {
      const database = await cluster.createDatabase();
      await using server = await TestServer.start([
        "--store",
        cluster.url(database, { password: "wrong-Secret-9" }),
        "--request-timeout",
        "2",
      ]);
      await server.waitForLog(
        /WARN .*store: postgres:\/\/postgres@127\.0\.0\.1:\d+\/test\d+ is unreachable \(password authentication failed for user "postgres"\); retrying every second/,
      );
      using client = await TestClient.connect(server.port);
      const reply = await client.ask("KV GET x");
      assertEquals(
        reply,
        'ERR unavailable store unreachable: password authentication failed for user "postgres"',
      );
      assertEquals(await client.ask("PING"), "OK PONG");
      assert(!server.log.join("\n").includes("wrong-Secret-9"), server.log.join("\n"));
    },
  );

  await t.step("the password may come from PGPASSWORD instead of the URL", async () => {
    const database = await cluster.createDatabase();
    await using server = await TestServer.start(
      ["--store", cluster.url(database, { password: false })],
      { env: { PGPASSWORD: TEST_PASSWORD } },
    );
    using client = await TestClient.connect(server.port);
    assertEquals(await client.ask("KV SET k v"), "OK");
    assertEquals(await client.ask("KV GET k"), "OK v");
    assert(!server.log.join("\n").includes(TEST_PASSWORD));
  });

  await t.step("tables made by another version are refused with one line", async () => {
    const database = await cluster.createDatabase();
    {
      await using server = await TestServer.start(["--store", cluster.url(database)]);
      server.assertLogged(/created the tables/);
    }
    await cluster.query((sql) => sql`UPDATE switchboard_schema SET version = 99`, database);
    const { code, stderr } = await runServerToExit(["--store", cluster.url(database)]);
    assertEquals(code, 1, stderr);
    const errors = stderr.split("\n").filter((line) => line.startsWith("error:"));
    assertEquals(errors, [
      `error: cannot use --store postgres://postgres@127.0.0.1:${cluster.port}/${database}: ` +
      "its tables are version 99, this server uses version 1",
    ]);
    assert(!stderr.includes(TEST_PASSWORD));
  });

  await t.step(
    "a server started while the database is down starts, warns once, and serves once it is up",
    async () => {
      const database = await cluster.createDatabase();
      await cluster.stopServer();
      let started = false;
      try {
        await using server = await TestServer.start([
          "--store",
          cluster.url(database),
          "--request-timeout",
          "2",
        ]);
        using client = await TestClient.connect(server.port);
        assertMatch(await client.ask("KV SET k v"), UNREACHABLE);
        assertMatch(await client.ask("FILE LIST"), UNREACHABLE);
        // The payload is read and dropped: the connection stays in step.
        assertMatch(await client.put("early.txt", "x".repeat(100_000)), UNREACHABLE);
        assertMatch(await client.ask("FILE GET early.txt"), UNREACHABLE);
        assertEquals(await client.ask("CALC add 2 3"), "OK 5");
        await cluster.startServer();
        started = true;
        await eventually(
          async () => await client.ask("KV SET k v") === "OK",
          "KV SET to work again",
        );
        assertEquals(await client.ask("KV GET k"), "OK v");
        assertEquals(
          server.log.filter((line) => /is unreachable/.test(line)).length,
          1,
          server.log.join("\n"),
        );
        server.assertLogged(/created the tables/);
      } finally {
        if (!started) await cluster.startServer();
      }
    },
  );

  const database = await cluster.createDatabase();
  // A deadline well above what a loaded machine takes to answer (a refused connection is at once).
  const store = ["--store", cluster.url(database), "--request-timeout", "10"];
  // A deadline of a second, for the steps that wait it out.
  const impatient = ["--store", cluster.url(database), "--request-timeout", "1"];

  await t.step(
    "the database stopped and started under load: ERR unavailable, then service without a restart",
    async () => {
      await using server = await TestServer.start(store);
      let acknowledged = 0;
      let sent = 0;
      let failures = 0;
      let running = true;
      let stopped = false;
      using bystander = await TestClient.connect(server.port);
      const load = (async () => {
        using client = await TestClient.connect(server.port);
        while (running) {
          sent++;
          const reply = await client.ask("KV INCR load");
          if (reply.startsWith("OK ")) acknowledged++;
          else {
            assertMatch(reply, UNREACHABLE);
            assert(stopped, `an INCR failed while the database was up: ${reply}`);
            failures++;
          }
        }
      })();
      load.catch(() => {}); // awaited in finally, with its own error if it failed
      try {
        await eventually(() => acknowledged >= 50, "50 INCRs before the stop");
        stopped = true;
        await cluster.stopServer();
        await eventually(() => failures >= 3, "INCRs to fail while the database is down");
        assertEquals(await bystander.ask("PING"), "OK PONG");
        const before = acknowledged;
        await cluster.startServer();
        await eventually(() => acknowledged > before, "INCRs to succeed again without a restart");
      } finally {
        running = false;
        await load;
      }
      const value = BigInt((await bystander.ask("KV GET load")).replace(/^OK /, ""));
      assert(
        value >= BigInt(acknowledged) && value <= BigInt(sent),
        `${value} of ${acknowledged}..${sent}`,
      );
      assertEquals(
        server.log.filter((line) => /is unreachable/.test(line)).length,
        1,
        server.log.join("\n"),
      );
      // The hub's watch of the database says so; it looks once a second.
      await server.waitForLog(/INFO {2}store: .* is reachable again/);
    },
  );

  await t.step("kill -9 of PostgreSQL loses no acknowledged write", async () => {
    await using server = await TestServer.start(store);
    const acknowledged = new Map<string, string>();
    let killed = false;
    const writer = (async () => {
      using client = await TestClient.connect(server.port);
      for (let i = 0; !killed || i % 10 !== 0; i++) {
        const reply = await client.ask(`KV SET crash:${i} value-${i}`);
        if (reply === "OK") acknowledged.set(`crash:${i}`, `value-${i}`);
        else assertMatch(reply, UNREACHABLE);
      }
    })();
    writer.catch(() => {}); // awaited in finally, with its own error if it failed
    try {
      await eventually(() => acknowledged.size >= 100, "100 acknowledged SETs");
      await cluster.kill9();
    } finally {
      killed = true;
      await writer;
    }
    await cluster.startServer();
    using client = await TestClient.connect(server.port);
    await eventually(
      async () => (await client.ask("KV GET crash:0")) === "OK value-0",
      "the store back",
    );
    for (const [key, value] of acknowledged) {
      assertEquals(await client.ask(`KV GET ${key}`), `OK ${value}`);
    }
  });

  await t.step(
    "kill -9 of a server mid-write loses no acknowledged write and leaves no pieces",
    async () => {
      await using other = await TestServer.start(store);
      const server = await TestServer.start(store);
      try {
        using writer = await TestClient.connect(server.port);
        const acknowledged: string[] = [];
        for (let i = 0; i < 50; i++) {
          assertEquals(await writer.ask(`KV SET mid:${i} ${i}`), "OK");
          acknowledged.push(`mid:${i}`);
        }
        using uploader = await TestClient.connect(server.port);
        await uploader.write(
          concat(encoder.encode("FILE PUT half.bin 8000000\n"), randomBytes(3_000_000)),
        );
        await eventually(() => uploadUnderWay(), "the upload to be under way");
        server.signal("SIGKILL");
        await server.exited();
        await eventually(
          async () => !await uploadUnderWay(),
          "the killed server's upload to roll back",
        );
        using client = await TestClient.connect(other.port);
        for (const key of acknowledged) {
          assertEquals(
            await client.ask(`KV GET ${key}`),
            `OK ${key.slice(4)}`,
          );
        }
        assertEquals(await client.ask("FILE GET half.bin"), "ERR not-found no file half.bin");
        const pieces = await cluster.query(async (sql) => {
          const [row] = await sql`SELECT count(*)::int AS n FROM switchboard_chunks
          WHERE upload NOT IN (SELECT upload FROM switchboard_files)`;
          return Number(row?.n);
        }, database);
        assertEquals(pieces, 0);
      } finally {
        await server[Symbol.asyncDispose]();
      }
    },
  );

  await t.step("a GET cut by a database failure mid-body closes the connection", async () => {
    await using server = await TestServer.start(store);
    const bytes = randomBytes(48 * 1024 * 1024);
    using client = await TestClient.connect(server.port);
    assertEquals(
      await client.put("large.bin", bytes),
      `OK stored large.bin ${bytes.length} ${sha256(bytes)}`,
    );
    await client.send("FILE GET large.bin");
    // Read a little, then hold still while the database dies under the stream.
    const buf = new Uint8Array(64 * 1024);
    let received = await client.conn.read(buf) ?? 0;
    await cluster.stopServer("immediate");
    const drained = (async () => {
      try {
        for (let n = await client.conn.read(buf); n !== null; n = await client.conn.read(buf)) {
          received += n;
        }
      } catch { /* a reset is a close too */ }
    })();
    await deadline(drained, 20_000).catch(() => {
      throw new Error(
        `the connection was still open 20 s after the database died (${received} bytes)`,
      );
    });
    const header = `DATA ${bytes.length} ${sha256(bytes)}\n`.length;
    assert(received < header + bytes.length, `all ${received} bytes came: the stream was not cut`);
    await cluster.startServer();
  });

  await t.step(
    "a database that never answers is ERR unavailable after --request-timeout",
    async () => {
      await using server = await TestServer.start(impatient);
      using client = await TestClient.connect(server.port);
      assertEquals(await client.ask("KV SET frozen before"), "OK");
      await cluster.freeze(true);
      try {
        assertEquals(
          await client.ask("KV GET frozen"),
          "ERR unavailable store unreachable: no answer within 1 s",
        );
        using bystander = await TestClient.connect(server.port);
        assertEquals(await bystander.ask("PING"), "OK PONG");
      } finally {
        await cluster.freeze(false);
      }
      await eventually(
        async () => await client.ask("KV GET frozen") === "OK before",
        "KV GET to answer again",
      );
    },
  );

  await t.step(
    "a KV write told ERR after --request-timeout never lands over the client's next one told OK",
    async () => {
      await using server = await TestServer.start([...impatient, "--threads", "1"]);
      using writer = await TestClient.connect(server.port);
      using stalled = await TestClient.connect(server.port);
      using other = await TestClient.connect(server.port);
      assertEquals(await writer.ask("KV SET order:a 0"), "OK");
      assertEquals(await writer.ask("KV SET order:z v0"), "OK");
      // Every connection of the pool open (GETs run on all of them at once), so that a write can
      // go out on one while an earlier write waits on another.
      const readers = await Promise.all(
        Array.from({ length: 8 }, () => TestClient.connect(server.port)),
      );
      for (let round = 0; round < 20; round++) {
        await Promise.all(readers.map((reader) => reader.ask("KV GET order:z")));
      }
      readers.forEach((reader) => reader.close());
      // Another server's transaction holds the row order:a for 4 s; writes that touch it wait. A
      // batch locks its rows in key order: order:a first, so order:z is free while it waits.
      const HOLD_MS = 4000;
      const { lockedAt, released: holder } = await cluster.holdKvRow(database, "order:a", HOLD_MS);
      await stalled.send("KV SET order:a x1"); // one batch, stuck on the lock past its deadline
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The writer's first SET waits with this one for the next batch, which touches the row too.
      await other.send("KV SET order:a x2");
      // The writer's SETs of order:z while the row is held; none touches it.
      const replies: Array<[string, string]> = [];
      for (let n = 1; n === 1 || Date.now() - lockedAt < HOLD_MS - 1500; n++) {
        replies.push([`v${n}`, await writer.ask(`KV SET order:z v${n}`, { timeoutMs: 10_000 })]);
      }
      await holder;
      for (const client of [stalled, other]) {
        assertMatch(await client.readText({ timeoutMs: 10_000 }), /^(OK|ERR unavailable .*)$/);
      }
      assertMatch(replies[0]![1], UNREACHABLE, "the first SET was not held up by the locked row");
      // Whatever still runs in PostgreSQL is done before this write, the writer's next one.
      await eventually(
        async () => await writer.ask("KV SET order:probe 1") === "OK",
        "KV writes to be answered again",
      );
      // An ERR (no answer in time) may or may not have been done; an OK was, and no write before
      // it may land after it.
      const lastOk = replies.findLastIndex(([, reply]) => reply === "OK");
      const allowed = [
        lastOk < 0 ? "v0" : replies[lastOk]![0],
        ...replies.slice(lastOk + 1).map(([value]) => value),
      ];
      const final = (await writer.ask("KV GET order:z")).replace(/^OK /, "");
      assert(
        allowed.includes(final),
        `order:z is ${final}, but ${
          replies[lastOk]?.[0]
        } was told OK after it; the writer's first ` +
          `SETs: ${JSON.stringify(replies.slice(0, 3))}, ${replies.length} in all`,
      );
    },
  );

  async function uploadUnderWay(): Promise<boolean> {
    return await cluster.query(async (sql) => {
      const rows = await sql`
        SELECT 1 FROM pg_stat_activity
        WHERE datname = ${database} AND application_name = 'switchboard' AND backend_xid IS NOT NULL`;
      return rows.length > 0;
    }, database);
  }
});

async function eventually(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!await probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after 20 s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
