/**
 * Listings are bounded (docs/protocol.md#commands–docs/protocol.md#limits-and-bad-input): KV KEYS lists at most 10,000 keys and
 * says `too-large` past that; KV SCAN pages through any number, in byte
 * order, without building the whole listing.
 */
import { assertEquals } from "@std/assert";
import { populateKv, TestClient, TestServer } from "../helpers.ts";

/** The keys of a DATA reply. */
function listed(reply: string): string[] {
  return reply.split("\n").slice(1).filter((line) => line !== "");
}

Deno.test("KV KEYS past 10,000 keys is ERR too-large; KV SCAN pages through them all in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-kv-" });
  const keys = Array.from({ length: 10_001 }, (_, i) => `k${String(i).padStart(5, "0")}`);
  await populateKv(`${dir}/data`, keys);
  await using server = await TestServer.start([], { dir });
  using c = await TestClient.connect(server.port);
  assertEquals(
    await c.ask("KV KEYS"),
    "ERR too-large more than 10000 keys match; page through them with KV SCAN [<prefix>] [AFTER <key>] [LIMIT <n>]",
  );
  assertEquals(
    listed(await c.ask("KV KEYS k0999")),
    keys.slice(9990, 10_000),
    "a narrower prefix lists",
  );
  const seen: string[] = [];
  let after = "";
  for (;;) {
    const page = listed(
      await c.ask(after === "" ? "KV SCAN LIMIT 3000" : `KV SCAN AFTER ${after} LIMIT 3000`),
    );
    seen.push(...page);
    if (page.length < 3000) break;
    after = page.at(-1)!;
  }
  assertEquals(seen, keys);
  assertEquals(listed(await c.ask("KV SCAN")).length, 1000, "the default page is 1,000 keys");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("KV SCAN AFTER a key longer than any key lists exactly the keys after it", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  const a248 = "a".repeat(248);
  const a249 = "a".repeat(249);
  // In byte order; the 250-byte ones are as long as keys get.
  const keys = ["a", a249, `${a249}b`, `${a248}b`, `${a248}\u00e9`, "b"];
  for (const key of keys) assertEquals(await c.ask(`KV SET ${key} v`), "OK");
  const tail = "x".repeat(3000); // past Deno KV's 2,049-byte read keys: was ERR internal
  assertEquals(listed(await c.ask(`KV SCAN AFTER ${"a".repeat(3000)}`)), keys.slice(2));
  // The 250-byte limit falls inside the é (2 bytes) or € (3 bytes) after the a's, so a
  // 250-byte key that shares the a's and goes on with a smaller character sorts before.
  assertEquals(listed(await c.ask(`KV SCAN AFTER ${a249}\u00e9${tail}`)), keys.slice(3));
  assertEquals(listed(await c.ask(`KV SCAN a AFTER ${a249}\u00e9${tail}`)), keys.slice(3, 5));
  assertEquals(listed(await c.ask(`KV SCAN AFTER ${a248}\u20ac${tail}`)), ["b"]);
  assertEquals(listed(await c.ask(`KV SCAN AFTER ${a248}\u{1F600}${tail}`)), ["b"]);
  assertEquals(listed(await c.ask(`KV SCAN AFTER ${"a".repeat(247)}\u{1F600}${tail}`)), ["b"]);
});

Deno.test("KV SCAN takes a prefix, AFTER and LIMIT in any case; a quoted prefix is never a keyword", async () => {
  await using server = await TestServer.start();
  using c = await TestClient.connect(server.port);
  for (const key of ["a1", "a2", "a3", "b1", "after", "limit1"]) {
    assertEquals(await c.ask(`KV SET ${key} v`), "OK");
  }
  assertEquals(await c.ask("KV SCAN a"), "DATA 15\na1\na2\na3\nafter\n");
  assertEquals(await c.ask("KV SCAN a after a2 limit 1"), "DATA 3\na3\n");
  assertEquals(await c.ask('KV SCAN "after"'), "DATA 6\nafter\n");
  assertEquals(await c.ask('KV SCAN "limit"'), "DATA 7\nlimit1\n");
  assertEquals(await c.ask("KV SCAN AFTER b1"), "DATA 7\nlimit1\n");
  assertEquals(await c.ask("KV SCAN a AFTER zzz"), "DATA 0\n");
  assertEquals(
    await c.ask("KV SCAN LIMIT 0"),
    'ERR bad-args LIMIT must be an integer from 1 to 10000: received "0"',
  );
  assertEquals(
    await c.ask("KV SCAN LIMIT 10001"),
    'ERR bad-args LIMIT must be an integer from 1 to 10000: received "10001"',
  );
  assertEquals(
    await c.ask("KV SCAN a b"),
    'ERR bad-args KV SCAN takes [<prefix>] [AFTER <key>] [LIMIT <n>], got "b"',
  );
  assertEquals(
    await c.ask("KV SCAN AFTER x AFTER y"),
    "ERR bad-args KV SCAN takes [<prefix>] [AFTER <key>] [LIMIT <n>]: AFTER is given twice",
  );
});
