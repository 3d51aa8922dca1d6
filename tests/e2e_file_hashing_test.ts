/**
 * End to end: the sha256 of FILE GET (docs/protocol.md#commands FILE, docs/protocol.md#limits-and-bad-input "CPU-heavy work …
 * never runs on the thread that serves connections; concurrent GETs of one
 * unhashed file hash it once"). STATS shows where the work went: every
 * hash is a job on the worker pool (`jobs_*`) and `hashes_total` counts the
 * files hashed. Files written straight into --root are unhashed; a sparse
 * file of 256 MiB of zeros takes a worker long enough (about half a second
 * here) for the tests to see a hash in progress, against milliseconds for
 * the requests that watch it, and it costs no disk. Every
 * assertion is about order or counts, never about durations.
 */
import { assertEquals, assertGreater, assertMatch } from "@std/assert";
import { HASH_CACHE_ENTRIES } from "../lib/stores/file_hashes.ts";
import {
  eventually,
  parseStats,
  randomBytes,
  sha256,
  type StatsRecord,
  TestClient,
  TestServer,
} from "./helpers.ts";

/** Size of the sparse file of zeros. */
const ZEROS_BYTES = 256 * 1024 ** 2;
/** Its sha256 (`head -c 268435456 /dev/zero | sha256sum`). */
const ZEROS_SHA256 = "a6d72ac7690f53be6ae46ba88506bd97302a093f7108472bd9efc3cefda06484";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A file of `size` zero bytes that takes no disk space. */
async function sparseFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, createNew: true });
  await file.truncate(size);
}

/** Reads a reply's first line only (a DATA header), without its body. */
async function readHeader(client: TestClient): Promise<string> {
  const buf = new Uint8Array(256);
  let seen = "";
  while (!seen.includes("\n")) {
    const n = await client.conn.read(buf);
    if (n === null) throw new Error(`closed before a whole line: ${JSON.stringify(seen)}`);
    seen += decoder.decode(buf.subarray(0, n));
  }
  return seen.slice(0, seen.indexOf("\n"));
}

/** STATS over `probe`. */
async function stats(probe: TestClient): Promise<StatsRecord> {
  return parseStats(await probe.ask("STATS"));
}

Deno.test("16 concurrent GETs of an unhashed file wait on one hash job; a bystander's PING is answered while it runs", async () => {
  await using server = await TestServer.start(["--workers", "2"]);
  await sparseFile(`${server.dir}/files/zeros.bin`, ZEROS_BYTES);
  using probe = await TestClient.connect(server.port);
  const getters = await Promise.all(
    Array.from({ length: 16 }, () => TestClient.connect(server.port)),
  );
  try {
    await Promise.all(getters.map((getter) => getter.send("FILE GET zeros.bin")));
    // Ordering, not timing: the bystander's PONG comes before any GET's
    // header, which waits for the one hash (a worker reading 256 MiB).
    const headers = getters.slice(1).map((getter) => readHeader(getter));
    const first = await Promise.race([
      probe.ask("PING").then((reply) => `bystander: ${reply}`),
      headers[0]!.then((header) => `a GET: ${header}`),
    ]);
    assertEquals(first, "bystander: OK PONG", "the PING was answered while the hash ran");
    // A GET that leaves does not cancel the hash the others wait for.
    getters[0]!.close();
    for (const header of headers) assertEquals(await header, `DATA ${ZEROS_BYTES} ${ZEROS_SHA256}`);
    const done = await stats(probe);
    assertEquals([done.hashes_total, done.jobs_total], [1, 1], "hashed once, on a worker");
  } finally {
    for (const getter of getters) getter.close();
  }
});

Deno.test("an unhashed file is hashed once for every later GET; a PUT's own hash needs no job", async () => {
  await using server = await TestServer.start();
  const bytes = randomBytes(3_000_000);
  await Deno.writeFile(`${server.dir}/files/outside.bin`, bytes);
  using client = await TestClient.connect(server.port);
  for (let i = 0; i < 3; i++) {
    await client.send("FILE GET outside.bin");
    const reply = await client.read();
    if (reply.kind !== "data") throw new Error(`unexpected reply: ${JSON.stringify(reply)}`);
    assertEquals([reply.sha256, reply.body], [sha256(bytes), bytes]);
  }
  let now = await stats(client);
  assertEquals([now.hashes_total, now.jobs_total], [1, 1]);
  const put = encoder.encode("FILE PUT mine.txt 5\nhello");
  await client.write(put);
  assertEquals(await client.readText(), `OK stored mine.txt 5 ${sha256(encoder.encode("hello"))}`);
  assertEquals(
    await client.ask("FILE GET mine.txt"),
    "DATA 5\nhello",
  );
  now = await stats(client);
  assertEquals([now.hashes_total, now.jobs_total], [1, 1], "the GET used the hash PUT computed");
});

Deno.test("a file fetched now and then keeps its hash while thousands of PUTs go by (LRU, not cleared whole)", async () => {
  await using server = await TestServer.start();
  await Deno.writeFile(`${server.dir}/files/keep.bin`, randomBytes(100_000));
  using client = await TestClient.connect(server.port);
  const get = async (name: string) => {
    await client.send(`FILE GET ${name}`);
    const reply = await client.read();
    if (reply.kind !== "data") throw new Error(`unexpected reply: ${JSON.stringify(reply)}`);
  };
  await get("keep.bin");
  // keep.bin plus this many PUTs is five entries over the bound: the five
  // least recently used go, which are the first PUTs, not keep.bin.
  const puts = HASH_CACHE_ENTRIES + 4;
  const batch = 1000;
  for (let first = 0; first < puts; first += batch) {
    const count = Math.min(batch, puts - first);
    const lines = Array.from({ length: count }, (_, i) => `FILE PUT empty-${first + i} 0\n`);
    await client.write(lines.join(""));
    for (let i = 0; i < count; i++) {
      const reply = await client.read();
      if (reply.kind !== "ok") throw new Error(`unexpected reply: ${JSON.stringify(reply)}`);
    }
    await get("keep.bin");
  }
  assertEquals((await stats(client)).hashes_total, 1, "keep.bin was never hashed again");
  await get(`empty-${puts - 1}`);
  assertEquals((await stats(client)).hashes_total, 1, "the newest PUT's hash is cached");
  await get("empty-0");
  assertEquals((await stats(client)).hashes_total, 2, "the oldest PUT's hash was evicted");
});

Deno.test("a file replaced between a GET's open and its hash job: the GET looks again and sends the new version whole", async () => {
  await using server = await TestServer.start(["--workers", "1"]);
  const files = `${server.dir}/files`;
  await sparseFile(`${files}/zeros.bin`, ZEROS_BYTES);
  const v1 = randomBytes(100_000);
  const v2 = randomBytes(150_000);
  await Deno.writeFile(`${files}/doc.bin`, v1);
  using probe = await TestClient.connect(server.port);
  using blocker = await TestClient.connect(server.port);
  using reader = await TestClient.connect(server.port);
  // The one worker hashes zeros.bin; doc.bin's hash job (for v1, the
  // version its GET opened) waits behind it.
  await blocker.send("FILE GET zeros.bin");
  await eventually(async () => (await stats(probe)).jobs_running === 1, "the blocker's hash");
  await reader.send("FILE GET doc.bin");
  await eventually(async () => (await stats(probe)).jobs_queued === 1, "doc.bin's hash job");
  // Replaced the way PUT does it: a new inode renamed over the name.
  await Deno.writeFile(`${server.dir}/doc.v2`, v2);
  await Deno.rename(`${server.dir}/doc.v2`, `${files}/doc.bin`);
  assertEquals((await stats(probe)).jobs_total, 0, "replaced before doc.bin's job ran");
  const reply = await reader.read();
  if (reply.kind !== "data") throw new Error(`unexpected reply: ${JSON.stringify(reply)}`);
  assertEquals([reply.body.length, reply.sha256], [v2.length, sha256(v2)]);
  assertEquals(reply.body, v2, "the new version, whole");
  const done = await stats(probe);
  assertEquals(
    [done.jobs_total, done.hashes_total],
    [3, 2],
    "zeros.bin; doc.bin v1, found changed; doc.bin v2",
  );
});

Deno.test("a GET is not refused when COUNTs fill the work budget: its hash takes the next turn on the worker", async () => {
  await using server = await TestServer.start(["--workers", "1"]);
  const bytes = randomBytes(100_000);
  await Deno.writeFile(`${server.dir}/files/doc.bin`, bytes);
  // 60 jobs of 1 s: the whole budget of one worker (60,000 ms). The unread
  // PONG makes close() a reset, which cancels the jobs still queued.
  const counter = await TestClient.connect(server.port);
  using probe = await TestClient.connect(server.port);
  try {
    await counter.write("PING\nCOUNT 0 60 1000\n");
    await eventually(async () => (await stats(probe)).jobs_queued > 50, "the COUNT's jobs");
    // Refused while more than 50 of its jobs wait, which is the next ten seconds at least.
    assertMatch(await probe.ask("COUNT 0 10 1000"), /^ERR busy job queue full/);
    await probe.send("FILE GET doc.bin");
    const reply = await probe.read();
    if (reply.kind !== "data") throw new Error(`unexpected reply: ${JSON.stringify(reply)}`);
    assertEquals([reply.sha256, reply.body], [sha256(bytes), bytes]);
    const after = await stats(probe);
    assertEquals(after.hashes_total, 1);
    assertGreater(after.jobs_queued, 0, "the GET did not wait for the COUNT to finish");
  } finally {
    counter.close();
  }
});
