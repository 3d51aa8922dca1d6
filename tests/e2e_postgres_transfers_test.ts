/**
 * FILE transfers on the shared store give their PostgreSQL connection back
 * in working order, however they end (docs/several-servers.md#the-shared-store):
 * a GET read to its end, one cut short by its client, a PUT cut short. The
 * server has 16 transfer connections; a transfer that leaves its connection
 * stuck makes later transfers wait for it and then fail.
 * One private cluster for the whole file (tests/postgres.ts).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { PostgresCluster } from "./postgres.ts";
import { eventually, sha256, TestClient, TestServer } from "./helpers.ts";

const encoder = new TextEncoder();

Deno.test("FILE transfers on the shared store leave their connections usable", async (t) => {
  await using cluster = await PostgresCluster.start();
  const database = await cluster.createDatabase();
  // A short deadline, so that a transfer stuck on a connection shows within the test's time.
  const store = ["--store", cluster.url(database), "--request-timeout", "2", "--threads", "1"];

  await t.step(
    "40 FILE GETs in a row, each read to its end, are each answered at once",
    async () => {
      await using server = await TestServer.start(store);
      using client = await TestClient.connect(server.port);
      assertEquals(
        await client.put("hello.txt", "hello"),
        "OK stored hello.txt 5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
      );
      // More GETs than the server has transfer connections (16): each must give its own back.
      for (let i = 1; i <= 40; i++) {
        const started = Date.now();
        const reply = await client.ask("FILE GET hello.txt", { timeoutMs: 10_000 });
        const took = Date.now() - started;
        assertEquals(reply, "DATA 5\nhello", `GET ${i} of 40`);
        assert(took < 1500, `GET ${i} of 40 took ${took} ms`);
      }
      // A PUT takes a transfer connection too, one of those the GETs used.
      assertEquals(
        await client.put("after.txt", "after", { timeoutMs: 10_000 }),
        `OK stored after.txt 5 ${sha256(encoder.encode("after"))}`,
      );
    },
  );

  await t.step(
    "KV GETs of other keys are answered at once while a KV SET waits on a row another transaction holds",
    async () => {
      const impatient = [
        "--store",
        cluster.url(database),
        "--request-timeout",
        "1",
        "--threads",
        "1",
      ];
      await using server = await TestServer.start(impatient);
      using writer = await TestClient.connect(server.port);
      assertEquals(await writer.ask("KV SET hot 0"), "OK");
      const readers = await Promise.all(
        Array.from({ length: 8 }, () => TestClient.connect(server.port)),
      );
      try {
        for (const [i, reader] of readers.entries()) {
          assertEquals(await reader.ask(`KV SET cold:${i} v${i}`), "OK");
        }
        // Every statement connection open: GETs at once run on all of them.
        for (let round = 0; round < 5; round++) {
          await Promise.all(readers.map((reader, i) => reader.ask(`KV GET cold:${i}`)));
        }
        // Another server's transaction holds the row "hot" for 3 s.
        const HOLD_MS = 3000;
        const { lockedAt, released: holder } = await cluster.holdKvRow(database, "hot", HOLD_MS);
        try {
          await writer.send("KV SET hot 1"); // waits on the lock past its deadline
          await new Promise((resolve) => setTimeout(resolve, 100));
          // Rounds of GETs from all readers at once, while the write waits: none touches "hot".
          const failed: string[] = [];
          let rounds = 0;
          while (Date.now() - lockedAt < HOLD_MS - 1200) {
            rounds++;
            // A GET held up behind the write fails with it once --request-timeout passes.
            await Promise.all(readers.map(async (reader, i) => {
              const reply = await reader.ask(`KV GET cold:${i}`, { timeoutMs: 10_000 });
              if (reply !== `OK v${i}`) failed.push(reply);
            }));
          }
          assertEquals(failed, [], `${failed.length} of ${rounds * readers.length} GETs`);
        } finally {
          await holder;
        }
        assertMatch(await writer.readText({ timeoutMs: 10_000 }), /^(OK|ERR unavailable .*)$/);
      } finally {
        readers.forEach((reader) => reader.close());
      }
    },
  );

  await t.step(
    "a FILE GET is answered within --request-timeout while 16 uploads that keep --min-rate hold every transfer connection",
    async () => {
      const trickled = [
        ...["--store", cluster.url(database), "--request-timeout", "2", "--threads", "1"],
        ...["--min-rate", "1024"],
      ];
      await using server = await TestServer.start(trickled);
      using client = await TestClient.connect(server.port);
      assertEquals(
        await client.put("hello.txt", "hello"),
        "OK stored hello.txt 5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
      );
      // 16 uploads (the server's transfer connections) of 100 MB, each sending 4 KiB a second:
      // four times --min-rate, so none is cut, and each would hold its connection for hours.
      const uploaders = await Promise.all(
        Array.from({ length: 16 }, () => TestClient.connect(server.port)),
      );
      let trickling = true;
      const trickles = uploaders.map(async (uploader, i) => {
        await uploader.send(`FILE PUT slow${i}.bin 100000000`);
        while (trickling) {
          await uploader.write(new Uint8Array(1024));
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      });
      try {
        await eventually(
          async () => await uploadsUnderWay() === 16,
          "16 uploads to hold a transfer connection each",
        );
        const started = Date.now();
        const reply = await client.ask("FILE GET hello.txt", { timeoutMs: 8_000 }).catch(
          (error) => `no reply: ${(error as Error).message}`,
        );
        assertMatch(
          reply,
          /^(DATA 5\nhello|ERR busy .*)$/,
          `after ${Date.now() - started} ms (--request-timeout 2)`,
        );
        // A PUT too: its payload is read and dropped, and the connection stays in step.
        const put = await client.put("more.txt", "more", { timeoutMs: 8_000 }).catch(
          (error) => `no reply: ${(error as Error).message}`,
        );
        assertMatch(
          put,
          /^(OK stored more\.txt 4 [0-9a-f]{64}|ERR busy all 16 file transfers .*)$/,
        );
        assertEquals(await client.ask("PING"), "OK PONG");
      } finally {
        trickling = false;
        uploaders.forEach((uploader) => uploader.close());
        await Promise.allSettled(trickles);
      }
    },
  );

  /** Transactions the servers hold open for transfers (an upload's, until its first piece, idles in it). */
  async function uploadsUnderWay(): Promise<number> {
    return await cluster.query(async (sql) => {
      const rows = await sql`
        SELECT 1 FROM pg_stat_activity
        WHERE datname = ${database} AND application_name = 'switchboard' AND state = 'idle in transaction'`;
      return rows.length;
    }, database);
  }
});
