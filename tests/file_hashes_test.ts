/**
 * FileHashes, with a compute function the test controls: one computation
 * per file version however many ask, a waiter that leaves cancels nothing,
 * changed versions and failures are not cached, and the cache is an LRU.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { FileHashes } from "../lib/stores/file_hashes.ts";
import type { FileIdentity } from "../lib/stores/file_identity.ts";

function version(ino: number): FileIdentity {
  return { dev: 1, ino, size: 10, mtimeMs: 1_763_719_200_000 };
}

/** A compute function whose calls the test sees and settles by hand. */
function controlled() {
  const calls: Array<{
    path: string;
    identity: FileIdentity;
    settle: PromiseWithResolvers<string | undefined>;
  }> = [];
  const compute = (path: string, identity: FileIdentity) => {
    const settle = Promise.withResolvers<string | undefined>();
    calls.push({ path, identity, settle });
    return settle.promise;
  };
  return { calls, compute };
}

Deno.test("FileHashes computes a version once however many ask at the same time, then caches it", async () => {
  const { calls, compute } = controlled();
  const hashes = new FileHashes(compute);
  const asks = Array.from({ length: 16 }, () => hashes.sha256("/root/big.bin", version(7)));
  assertEquals(calls.length, 1, "the other 15 wait for the first one's computation");
  calls[0]!.settle.resolve("ab".repeat(32));
  assertEquals(await Promise.all(asks), Array(16).fill("ab".repeat(32)));
  assertEquals(await hashes.sha256("/root/big.bin", version(7)), "ab".repeat(32));
  assertEquals([calls.length, hashes.computedTotal], [1, 1]);
  const replaced = hashes.sha256("/root/big.bin", version(8));
  assertEquals(calls.length, 2, "another version of the same path is another computation");
  calls[1]!.settle.resolve("cd".repeat(32));
  assertEquals(await replaced, "cd".repeat(32));
});

Deno.test("FileHashes: a waiter that stops waiting does not cancel the computation others wait for", async () => {
  const { calls, compute } = controlled();
  const hashes = new FileHashes(compute);
  const leaving = new AbortController();
  const gone = hashes.sha256("/root/f", version(1), { signal: leaving.signal });
  const staying = [hashes.sha256("/root/f", version(1)), hashes.sha256("/root/f", version(1))];
  leaving.abort(new Error("connection gone"));
  await assertRejects(() => gone, Error, "connection gone");
  calls[0]!.settle.resolve("ef".repeat(32));
  assertEquals(await Promise.all(staying), ["ef".repeat(32), "ef".repeat(32)]);
  assertEquals(calls.length, 1);
  assertEquals(hashes.computedTotal, 1);
});

Deno.test("FileHashes: a version found changed is neither cached nor counted, and a failure is not kept", async () => {
  const { calls, compute } = controlled();
  const hashes = new FileHashes(compute);
  const first = hashes.sha256("/root/f", version(1));
  calls[0]!.settle.resolve(undefined);
  assertEquals(await first, undefined);
  const second = hashes.sha256("/root/f", version(1));
  assertEquals(calls.length, 2, "changed is not remembered: the next ask computes again");
  calls[1]!.settle.reject(new Error("EIO"));
  await assertRejects(() => second, Error, "EIO");
  const third = hashes.sha256("/root/f", version(1));
  assertEquals(calls.length, 3, "a failure is not remembered either");
  calls[2]!.settle.resolve("01".repeat(32));
  assertEquals(await third, "01".repeat(32));
  assertEquals(hashes.computedTotal, 1);
});

Deno.test("FileHashes keeps the recently used hashes and evicts one entry at a time", async () => {
  const { calls, compute } = controlled();
  const hashes = new FileHashes(compute, { entries: 3 });
  hashes.remember("/root/a", version(1), "aa".repeat(32));
  hashes.remember("/root/b", version(2), "bb".repeat(32));
  hashes.remember("/root/c", version(3), "cc".repeat(32));
  assertEquals(await hashes.sha256("/root/a", version(1)), "aa".repeat(32), "a, used again");
  hashes.remember("/root/d", version(4), "dd".repeat(32));
  assertEquals(hashes.cachedEntries, 3);
  for (const [name, ino] of [["a", 1], ["c", 3], ["d", 4]] as const) {
    assertEquals(await hashes.sha256(`/root/${name}`, version(ino)), name.repeat(64));
  }
  assertEquals(calls.length, 0, "a, c and d are still cached");
  const b = hashes.sha256("/root/b", version(2));
  assertEquals(calls.length, 1, "b, the least recently used, went");
  calls[0]!.settle.resolve("bb".repeat(32));
  assertEquals(await b, "bb".repeat(32));
});
