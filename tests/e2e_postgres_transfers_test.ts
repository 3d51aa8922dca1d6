/**
 * FILE transfers on the shared store give their PostgreSQL connection back
 * in working order, however they end (docs/several-servers.md#the-shared-store):
 * a GET read to its end, one cut short by its client, a PUT cut short. The
 * server has 16 transfer connections; a transfer that leaves its connection
 * stuck makes later transfers wait for it and then fail.
 * One private cluster for the whole file (tests/postgres.ts).
 */
import { assert, assertEquals } from "@std/assert";
import { PostgresCluster } from "./postgres.ts";
import { sha256, TestClient, TestServer } from "./helpers.ts";

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
});
