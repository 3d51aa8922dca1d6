/**
 * Two servers on one PostgreSQL database act as one store
 * (docs/several-servers.md#the-shared-store): keys, INCRs, files and their order, across servers.
 * One private cluster for the whole file (tests/postgres.ts).
 */
import { assertEquals, assertMatch } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { PostgresCluster } from "./postgres.ts";
import { concat, randomBytes, sha256, TestClient, TestServer } from "./helpers.ts";

const encoder = new TextEncoder();

Deno.test("servers sharing a --store database serve one store", async (t) => {
  await using cluster = await PostgresCluster.start();
  const database = await cluster.createDatabase();
  const store = ["--store", cluster.url(database)];
  await using a = await TestServer.start(store);
  await using b = await TestServer.start(store);
  a.assertLogged(
    /INFO {2}store: created the tables in postgres:\/\/postgres@127\.0\.0\.1:\d+\/test1 \(schema version 1\)/,
  );
  b.assertLogged(/created the tables/, false);

  await t.step("a key set through one server is read through the other", async () => {
    using one = await TestClient.connect(a.port);
    using other = await TestClient.connect(b.port);
    assertEquals(await one.ask('KV SET greeting héllo  "world" '), "OK");
    assertEquals(await other.ask("KV GET greeting"), 'OK héllo  "world" ');
    assertEquals(await other.ask("KV DEL greeting"), "OK deleted");
    assertEquals(await one.ask("KV GET greeting"), "ERR not-found no key greeting");
    assertEquals(await one.ask(`KV SET big ${"v".repeat(65_536)}`), "OK");
    assertEquals(await other.ask("KV GET big"), `OK ${"v".repeat(65_536)}`);
    assertEquals(await one.ask("KV SET empty"), "OK");
    assertEquals(await other.ask("KV GET empty"), "OK ");
  });

  await t.step("concurrent INCRs through both servers are exact", async () => {
    const clients = 8;
    const each = 40;
    const step = "1000000000000000000000"; // 10^21: past 64 bits after a few
    const results = await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        using client = await TestClient.connect(i % 2 === 0 ? a.port : b.port);
        const seen: string[] = [];
        for (let n = 0; n < each; n++) seen.push(await client.ask(`KV INCR counter ${step}`));
        return seen;
      }),
    );
    const values = results.flat().map((reply) => BigInt(reply.replace(/^OK /, "")));
    // Every INCR saw its own value: all distinct, and the last is the exact sum.
    assertEquals(new Set(values).size, clients * each);
    using client = await TestClient.connect(b.port);
    assertEquals(await client.ask("KV GET counter"), `OK ${BigInt(clients * each) * BigInt(step)}`);
    assertEquals(
      await client.ask("KV INCR counter -1"),
      `OK ${BigInt(clients * each) * BigInt(step) - 1n}`,
    );
    assertEquals(await client.ask("KV SET word seven"), "OK");
    assertEquals(
      await client.ask("KV INCR word"),
      "ERR bad-args the value of word is not an integer",
    );
    assertEquals(await client.ask("KV SET decimal 1.5"), "OK");
    assertEquals(
      await client.ask("KV INCR decimal"),
      "ERR bad-args the value of decimal is not an integer",
    );
    assertEquals(await client.ask("KV GET decimal"), "OK 1.5");
    assertEquals(await client.ask("KV SET padded 007"), "OK");
    assertEquals(await client.ask("KV INCR padded +3"), "OK 10");
    assertEquals(await client.ask(`KV SET huge ${"9".repeat(65_536)}`), "OK");
    assertEquals(
      await client.ask("KV INCR huge"),
      "ERR too-large values are limited to 65536 bytes",
    );
  });

  await t.step(
    "many clients' calls gathered into one statement answer each call exactly",
    async () => {
      using setup = await TestClient.connect(a.port);
      assertEquals(await setup.ask("KV SET text seven"), "OK");
      assertEquals(await setup.ask(`KV SET full ${"9".repeat(65_536)}`), "OK");
      const clients = 24;
      const each = 20;
      // Per client, on two servers at once: up and down steps on one counter (its key's
      // steps differ in sign, so the batch answers them one by one), one sign on another
      // (summed into one update), an INCR on text and one past the limit (each an error),
      // and a SET and GET of one shared key.
      const replies = await Promise.all(
        Array.from({ length: clients }, async (_, i) => {
          using client = await TestClient.connect(i % 2 === 0 ? a.port : b.port);
          const seen: string[] = [];
          for (let n = 0; n < each; n++) {
            seen.push(await client.ask(`KV INCR mixed ${i % 3 === 0 ? -2 : 3}`));
            seen.push(await client.ask(`KV INCR down -${i + 1}`));
            seen.push(await client.ask("KV INCR text 1"));
            seen.push(await client.ask("KV INCR full 1"));
            seen.push(await client.ask(`KV SET shared from-${i}`));
            seen.push(await client.ask("KV GET shared"));
          }
          return seen;
        }),
      );
      const all = replies.flat();
      const counted = (pattern: RegExp) => all.filter((reply) => pattern.test(reply)).length;
      assertEquals(counted(/^ERR bad-args the value of text is not an integer$/), clients * each);
      assertEquals(counted(/^ERR too-large values are limited to 65536 bytes$/), clients * each);
      assertEquals(counted(/^OK from-\d+$/), clients * each);
      // The one-sign counter's answers are every value from -1 down, each once.
      const downs = replies.flatMap((seen) => seen.filter((_, n) => n % 6 === 1))
        .map((reply) => BigInt(reply.replace(/^OK /, "")));
      assertEquals(new Set(downs).size, clients * each);
      const downTotal = Array.from({ length: clients }, (_, i) => BigInt((i + 1) * each))
        .reduce((sum, n) => sum + n, 0n);
      assertEquals(downs.reduce((low, n) => n < low ? n : low), -downTotal);
      const mixedTotal = Array.from({ length: clients }, (_, i) => (i % 3 === 0 ? -2 : 3) * each)
        .reduce((sum, n) => sum + n, 0);
      assertEquals(await setup.ask("KV GET mixed"), `OK ${mixedTotal}`);
      assertEquals(await setup.ask("KV GET down"), `OK ${-downTotal}`);
      assertEquals(await setup.ask("KV GET text"), "OK seven");
      assertEquals(await setup.ask("KV GET full"), `OK ${"9".repeat(65_536)}`);
      assertMatch(await setup.ask("KV GET shared"), /^OK from-\d+$/);
    },
  );

  await t.step("KEYS and SCAN list in byte order, as the embedded store does", async () => {
    // Upper case before lower, a prefix before its extensions, multi-byte after ASCII, 4-byte last.
    const keys = ["o:b", "o:a", "o:B", "o:ab", "o:é", "o:z", "o:\u{1F600}", "o:\u{FFFD}", "o:a-"];
    // The same keys in an embedded store, for its order.
    await using embedded = await TestServer.start();
    const expected: string[] = [];
    for (const port of [a.port, embedded.port]) {
      using client = await TestClient.connect(port);
      for (const key of keys) assertEquals(await client.ask(`KV SET ${key} 1`), "OK");
      expected.push(await client.ask("KV KEYS o:"));
    }
    assertEquals(expected[0], expected[1]);
    assertEquals(
      expected[0],
      `DATA ${encoder.encode([...keys].sort(byBytes).join("\n") + "\n").length}\n` +
        [...keys].sort(byBytes).join("\n") + "\n",
    );
    using client = await TestClient.connect(b.port);
    assertEquals(await client.ask("KV SCAN o: AFTER o:a LIMIT 2"), "DATA 10\no:a-\no:ab\n");
    assertEquals(await client.ask("KV SCAN o:a"), "DATA 14\no:a\no:a-\no:ab\n");
    assertEquals(await client.ask(`KV SCAN o: AFTER o:\u{FFFD}`), "DATA 7\no:\u{1F600}\n");
    assertEquals(await client.ask(`KV KEYS ${"x".repeat(251)}`), "DATA 0\n");
  });

  await t.step(
    "a file PUT through one server is fetched whole, with its sha256, through the other",
    async () => {
      const bytes = randomBytes(3 * 512 * 1024 + 17); // pieces of 512 KiB and a short last one
      using one = await TestClient.connect(a.port);
      assertEquals(
        await one.put("data.bin", bytes),
        `OK stored data.bin ${bytes.length} ${sha256(bytes)}`,
      );
      assertEquals(
        await one.put("empty.txt", ""),
        `OK stored empty.txt 0 ${sha256(new Uint8Array())}`,
      );
      using other = await TestClient.connect(b.port);
      await other.send("FILE GET data.bin");
      const reply = await other.read();
      if (reply.kind !== "data") throw new Error(`expected DATA, got ${reply.kind}`);
      assertEquals(reply.sha256, sha256(bytes));
      assertEquals(sha256(reply.body), sha256(bytes));
      assertEquals(await other.ask("FILE GET empty.txt"), "DATA 0\n");
      // LIST is in byte order of the names, as the embedded store's.
      for (const name of ["B.txt", "a.txt", "\u00e9.txt"]) await one.put(name, name);
      const names = (await other.ask("FILE LIST")).split("\n").slice(1, -1)
        .map((line) => line.split(" ")[2]);
      assertEquals(names, ["B.txt", "a.txt", "data.bin", "empty.txt", "\u00e9.txt"]);
      for (const name of ["B.txt", "a.txt", "\u00e9.txt"]) await one.ask(`FILE DEL ${name}`);
      const list = await other.ask("FILE LIST");
      assertMatch(
        list,
        new RegExp(`^DATA \\d+\\n${bytes.length} \\S+Z data\\.bin\\n0 \\S+Z empty\\.txt\\n$`),
      );
      // Replaced through the other server: the old pieces go with the commit.
      const next = encoder.encode("second version");
      assertEquals(
        await other.put("data.bin", next),
        `OK stored data.bin ${next.length} ${sha256(next)}`,
      );
      assertEquals(await one.ask("FILE GET data.bin"), `DATA ${next.length}\nsecond version`);
      assertEquals(await piecesLeft(), 1, 'one piece: "second version" (an empty file has none)');
      assertEquals(await one.ask("FILE DEL data.bin"), "OK deleted data.bin");
      assertEquals(await other.ask("FILE GET data.bin"), "ERR not-found no file data.bin");
      assertEquals(await other.ask("FILE DEL data.bin"), "ERR not-found no file data.bin");
      assertEquals(await piecesLeft(), 0);
    },
  );

  await t.step("concurrent uploads through one server each read back their own bytes", async () => {
    // Piece buffers are shared and used again (lib/stores/postgres/copy_in.ts): sizes that end
    // mid-piece, after larger files, show any stale byte of another upload.
    const files = [5 * 512 * 1024 + 3, 700_001, 2 * 512 * 1024, 5].map((size, i) => ({
      name: `mixed${i}.bin`,
      bytes: randomBytes(size),
    }));
    await Promise.all(files.map(async ({ name, bytes }) => {
      using client = await TestClient.connect(a.port);
      assertEquals(
        await client.put(name, bytes),
        `OK stored ${name} ${bytes.length} ${sha256(bytes)}`,
      );
    }));
    using reader = await TestClient.connect(b.port);
    for (const { name, bytes } of files) {
      await reader.send(`FILE GET ${name}`);
      const reply = await reader.read();
      if (reply.kind !== "data") throw new Error(`expected DATA for ${name}, got ${reply.kind}`);
      assertEquals([reply.body.length, sha256(reply.body)], [bytes.length, sha256(bytes)]);
      assertEquals(await reader.ask(`FILE DEL ${name}`), `OK deleted ${name}`);
    }
  });

  await t.step(
    "GETs left mid-body give their connections back: more of them than the pool, then a GET whole",
    async () => {
      // Two COPY windows (lib/stores/postgres/copy.ts): a client that leaves mid-way leaves the rest
      // of one COPY unread, which must be drained before the connection serves its next query.
      const bytes = randomBytes(9 * 1024 * 1024 + 5);
      using writer = await TestClient.connect(a.port);
      assertEquals(
        await writer.put("left.bin", bytes),
        `OK stored left.bin ${bytes.length} ${sha256(bytes)}`,
      );
      // More than a server's transfer connections (database.ts MAX_STREAMS), one after another.
      for (let i = 0; i < 20; i++) {
        const leaving = await TestClient.connect(a.port);
        await leaving.send("FILE GET left.bin");
        await deadline(leaving.conn.read(new Uint8Array(64 * 1024)), 10_000).catch(() => {
          throw new Error(`GET ${i + 1} sent nothing within 10 s: a connection was not given back`);
        });
        leaving.close();
      }
      using reader = await TestClient.connect(a.port);
      await reader.send("FILE GET left.bin");
      const reply = await reader.read();
      if (reply.kind !== "data") throw new Error(`expected DATA, got ${reply.kind}`);
      assertEquals([reply.body.length, sha256(reply.body)], [bytes.length, sha256(bytes)]);
      assertEquals(await reader.ask("KV SET after-left yes"), "OK");
      assertEquals(await reader.ask("FILE DEL left.bin"), "OK deleted left.bin");
    },
  );

  await t.step("an upload cut short leaves nothing, and the old version stays", async () => {
    using one = await TestClient.connect(a.port);
    assertEquals(
      await one.put("kept.txt", "old"),
      `OK stored kept.txt 3 ${sha256(encoder.encode("old"))}`,
    );
    assertEquals(await piecesLeft(), 1);
    const client = await TestClient.connect(b.port);
    // Pieces are stored as they come (lib/stores/postgres/copy_in.ts): some are in by now.
    await client.write(
      concat(encoder.encode("FILE PUT kept.txt 12000000\n"), randomBytes(6_000_000)),
    );
    // Wait until the server has pieces of it in the open transaction, then vanish.
    await waitFor(() => uncommittedUploads(), "the upload to be under way");
    client.close();
    await waitFor(async () => !await uncommittedUploads(), "the cut upload to be rolled back");
    assertEquals(await piecesLeft(), 1, "only the old version's piece");
    assertEquals(await one.ask("FILE GET kept.txt"), "DATA 3\nold");
  });

  await t.step(
    "KEYS stops at 10,000 keys and SCAN pages through more, on either server",
    async () => {
      await cluster.query(
        (sql) =>
          sql`INSERT INTO switchboard_kv (key, value)
            SELECT convert_to('many:' || lpad(n::text, 6, '0'), 'UTF8'), '\x76'::bytea
            FROM generate_series(1, 10001) AS n`,
        database,
      );
      using client = await TestClient.connect(a.port);
      assertEquals(
        await client.ask("KV KEYS many:"),
        "ERR too-large more than 10000 keys match; page through them with KV SCAN [<prefix>] [AFTER <key>] [LIMIT <n>]",
      );
      const page = await client.ask("KV SCAN many: LIMIT 10000");
      const keys = page.split("\n").slice(1, -1);
      assertEquals([keys.length, keys[0], keys.at(-1)], [10_000, "many:000001", "many:010000"]);
      using other = await TestClient.connect(b.port);
      assertEquals(await other.ask("KV SCAN many: AFTER many:010000"), "DATA 12\nmany:010001\n");
      assertEquals(await other.ask("KV GET many:000777"), "OK v");
    },
  );

  /** Pieces stored in the database (committed). */
  function piecesLeft(): Promise<number> {
    return cluster.query(async (sql) => {
      const [row] = await sql`SELECT count(*)::int AS n FROM switchboard_chunks`;
      return Number(row?.n);
    }, database);
  }

  /** Whether a server has a transaction open that inserted pieces (an upload under way). */
  function uncommittedUploads(): Promise<boolean> {
    return cluster.query(async (sql) => {
      const rows = await sql`
        SELECT 1 FROM pg_stat_activity
        WHERE datname = ${database} AND application_name = 'switchboard' AND backend_xid IS NOT NULL`;
      return rows.length > 0;
    }, database);
  }
});

function byBytes(x: string, y: string): number {
  const a = encoder.encode(x);
  const b = encoder.encode(y);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

async function waitFor(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!await probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after 10 s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
