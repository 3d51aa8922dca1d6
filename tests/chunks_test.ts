/** Read-ahead and write-behind (with its flush behind): every byte, in order, and failures surface. */
import { assertEquals, assertRejects } from "@std/assert";
import { readAhead, SyncBehind, WriteBehind } from "../lib/chunks.ts";
import { CutShortError } from "../lib/io.ts";
import { randomBytes } from "./helpers.ts";

/** A source that returns at most `step` bytes per read, from `data`. */
function source(data: Uint8Array, step: number) {
  let at = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= data.length) return Promise.resolve(null);
      const n = Math.min(step, p.length, data.length - at);
      p.set(data.subarray(at, at + n));
      at += n;
      return new Promise((resolve) => setTimeout(() => resolve(n), 0));
    },
  };
}

Deno.test("readAhead and WriteBehind move every byte in order, with two buffers taking turns", async () => {
  const data = randomBytes(300_001);
  const written: Uint8Array[] = [];
  const sink = {
    // A slow sink that takes a copy only when the write completes: a reused buffer would show.
    write: (p: Uint8Array) =>
      new Promise<number>((resolve) =>
        setTimeout(() => {
          const n = Math.min(p.length, 7000);
          written.push(p.slice(0, n));
          resolve(n);
        }, 0)
      ),
  };
  const behind = new WriteBehind(sink);
  for await (const chunk of readAhead(source(data, 50_000), data.length, 64 * 1024)) {
    await behind.write(chunk);
  }
  await behind.flush();
  const out = new Uint8Array(data.length);
  let at = 0;
  for (const part of written) {
    out.set(part, at);
    at += part.length;
  }
  assertEquals(at, data.length);
  const firstDifference = out.findIndex((byte, i) => byte !== data[i]);
  assertEquals(firstDifference, -1);
});

Deno.test("readAhead says when the source ends early", async () => {
  await assertRejects(
    async () => {
      for await (const _ of readAhead(source(new Uint8Array(10), 4), 20)) { /* drain */ }
    },
    CutShortError,
    "ended after 10 of 20 bytes",
  );
});

Deno.test("a failed write-behind surfaces at the next write or flush", async () => {
  const behind = new WriteBehind({ write: () => Promise.reject(new Error("disk full")) });
  await behind.write(new Uint8Array(1));
  await assertRejects(() => behind.flush(), Error, "disk full");
});

Deno.test("readAhead asks its chunk size before each read, and a chunk stays valid after the size changes", async () => {
  const data = randomBytes(10_000);
  let size = 1000;
  const chunks: Uint8Array[] = [];
  const lengths: number[] = [];
  for await (const chunk of readAhead(source(data, 100_000), data.length, () => size)) {
    chunks.push(chunk);
    lengths.push(chunk.length);
    if (chunks.length === 2) size = 3000;
  }
  // The first two reads were started at 1000; the size asked for the third on.
  assertEquals(lengths, [1000, 1000, 1000, 3000, 3000, 1000]);
  // Chunks of the old size were never overwritten by reads of the new one.
  assertEquals(chunks[0], data.subarray(0, 1000));
  assertEquals(chunks[1], data.subarray(1000, 2000));
});

/** A sink that lands each write after a timer, and a sync whose calls the test settles by hand. */
function syncedSink() {
  let landed = 0;
  const syncs: { landedAtStart: number; settle: (error?: Error) => void }[] = [];
  return {
    syncs,
    get landed() {
      return landed;
    },
    sink: {
      write: (p: Uint8Array) =>
        new Promise<number>((resolve) =>
          setTimeout(() => {
            landed += p.length;
            resolve(p.length);
          })
        ),
    },
    sync: () =>
      new Promise<void>((resolve, reject) => {
        syncs.push({
          landedAtStart: landed,
          settle: (error) => error === undefined ? resolve() : reject(error),
        });
      }),
  };
}

Deno.test("a write-behind syncs behind the writes each syncEveryBytes, one sync at a time, and flush waits for it", async () => {
  const disk = syncedSink();
  const behind = new WriteBehind(disk.sink, { sync: disk.sync, syncEveryBytes: 100 });
  for (let i = 0; i < 3; i++) await behind.write(new Uint8Array(50));
  // 100 bytes had landed when the third write began: one sync, over what had landed.
  assertEquals(disk.syncs.map((sync) => sync.landedAtStart), [100]);
  for (let i = 0; i < 4; i++) await behind.write(new Uint8Array(50));
  assertEquals(disk.syncs.length, 1, "no second sync while the first is in flight");
  disk.syncs[0]!.settle();
  await behind.write(new Uint8Array(50));
  assertEquals(disk.syncs.length, 2, "the next sync starts once the first is done");
  let flushed = false;
  const flushing = behind.flush().then(() => flushed = true);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assertEquals(
    [flushed, disk.landed],
    [false, 400],
    "every write landed; flush waits for the sync",
  );
  disk.syncs[1]!.settle();
  await flushing;
});

Deno.test("a failed background sync surfaces at the next write or at flush", async () => {
  const disk = syncedSink();
  const behind = new WriteBehind(disk.sink, { sync: disk.sync, syncEveryBytes: 10 });
  await behind.write(new Uint8Array(10));
  await behind.write(new Uint8Array(10));
  disk.syncs[0]!.settle(new Error("No space left on device (os error 28)"));
  await assertRejects(() => behind.write(new Uint8Array(10)), Error, "No space left on device");
  await assertRejects(() => behind.flush(), Error, "No space left on device");
});

Deno.test("SyncBehind flushes from a descriptor of its own, and does nothing where it cannot open one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-sync-behind-" });
  try {
    const path = `${dir}/file.bin`;
    using file = await Deno.open(path, { createNew: true, write: true });
    await file.write(new Uint8Array(1000));
    {
      using behind = new SyncBehind(path);
      await behind.sync();
      await behind.sync();
    } // disposed: the test's resource check fails if its descriptor were left open
    using missing = new SyncBehind(`${dir}/gone/file.bin`);
    await missing.sync(); // no descriptor to spare is no error: the caller's last fdatasync does it all
    const closed = new SyncBehind(path);
    closed[Symbol.dispose]();
    await closed.sync(); // after dispose it opens nothing
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
